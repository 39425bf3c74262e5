"""The observability port after real work: a campaign on the dev server and the emulator (with
429s injected), a worker and ingress whose Temporal client publishes the SDK's metrics; then
`/metrics` must export every metric the Grafana dashboard queries, and `/readyz` must follow
the worker."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.clients.campaigns import start_campaign
from simops.core.sim import SimStatus
from simops.devstack.in_process import emulator_settings, local_stack
from simops.emulator.server import RunningEmulator
from simops.observability.health import Readiness
from simops.observability.server import sdk_metrics_runtime, serve_observability
from simops.runtime.ports import free_port
from simops.worker import run_worker
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.stacks import CALLBACK_SECRET, set_faults

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "simops.json"

pytestmark = pytest.mark.timeout(180)

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (inside `{}` or a `by (...)` clause) or in a range (`[5m]`)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = re.findall(r"(?<![\w.])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()", text)
    return {name for name in names if name not in PROMQL_WORDS}


def exported_samples(exposition: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Each sample of a Prometheus text exposition: name, labels, value."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def test_the_promql_parser_finds_metric_names_not_labels_or_functions() -> None:
    expression = (
        'histogram_quantile(0.95, sum by (le, campaign) (rate(simops_x_bucket{a="b{c}"}[5m])))'
        " / on (campaign) group_left simops_y == 1"
    )
    assert metric_names(expression) == {"simops_x_bucket", "simops_y"}


def activation_of_new_sims(
    campaign_id: str, emulator: RunningEmulator, **fields: Any
) -> CampaignSpec:
    """A campaign activating every `new` SIM of the emulator's parent into its first Fleet."""
    return CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.ACTIVATE,
        fleet=emulator.parent.fleets[0],
        source=CampaignSource(status=SimStatus.NEW),
        **fields,
    )


@pytest.fixture
async def metrics_client(dev_env: WorkflowEnvironment) -> AsyncIterator[tuple[Client, str]]:
    """A client of the dev server whose runtime publishes the SDK's metrics; their URL."""
    runtime, url = sdk_metrics_runtime()
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    yield client, url


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_every_metric_the_dashboard_queries_is_exported_after_a_campaign(
    metrics_client: tuple[Client, str], emulator_factory: Any, tmp_path: Path
) -> None:
    client, sdk_url = metrics_client
    emulator: RunningEmulator = await emulator_factory(seed_sims=30, scheduled_delay=(0.2, 0.4))
    await set_faults(emulator, rate_limit_rate=0.2)
    campaign_id = "observed"
    async with local_stack(
        client,
        emulator,
        callback_secret=CALLBACK_SECRET,
        campaign_dir=tmp_path / "campaigns",
        api_backoff_base_seconds=0.01,
    ) as stack:
        spec = activation_of_new_sims(campaign_id, emulator, batch_size=10)
        result = await (await start_campaign(stack.client, stack.settings, spec, None)).result()
        port = free_port()
        async with serve_observability("127.0.0.1", port, Readiness(), sdk_url):
            status, exposition = await _get(f"http://127.0.0.1:{port}/metrics")

    assert result.phase == CampaignPhase.COMPLETED and result.counts.get("converged") == 30
    assert status == 200
    samples = list(exported_samples(exposition))
    exported = {name for name, _, _ in samples}
    queried = set().union(*map(metric_names, dashboard_expressions()))
    assert queried, "the dashboard queries nothing"
    assert sorted(queried - exported) == []

    def value(metric: str, **labels: str) -> float:
        return sum(v for n, ls, v in samples if n == metric and labels.items() <= ls.items())

    ended = value("simops_rows_ended_total", campaign=campaign_id, action="activate")
    assert ended == value("simops_rows_ended_total", campaign=campaign_id, outcome="converged")
    assert ended == 30
    assert value("simops_campaign_phase", campaign=campaign_id, phase="completed") == 1
    assert value("simops_campaign_phase", campaign=campaign_id, phase="running") == 0
    assert value("simops_api_requests_total", status="429") > 0
    assert value("simops_api_retry_wait_seconds_count", reason="rate_limited") > 0
    assert value("simops_callbacks_total", outcome="signalled") > 0
    assert value("simops_sim_scheduled_seconds_count") >= 30
    assert value("simops_budget_requests_total", scope="campaign", budget=campaign_id) > 0
    assert not any("sim_sid" in labels or "sim" in labels for _, labels, _ in samples)


async def test_the_phase_gauge_shows_a_pause_while_batches_still_run(
    metrics_client: tuple[Client, str], emulator_factory: Any, tmp_path: Path
) -> None:
    """`pause` shows at once, not when a running batch ends (here not before 30 s)."""
    client, sdk_url = metrics_client
    emulator: RunningEmulator = await emulator_factory(seed_sims=10, scheduled_delay=(30.0, 30.0))
    campaign_id = "paused-gauge"

    def value(exposition: str, metric: str, **labels: str) -> float:
        return sum(
            v
            for n, ls, v in exported_samples(exposition)
            if n == metric and {"campaign": campaign_id, **labels}.items() <= ls.items()
        )

    async with local_stack(
        client, emulator, callback_secret=CALLBACK_SECRET, campaign_dir=tmp_path / "campaigns"
    ) as stack:
        spec = activation_of_new_sims(campaign_id, emulator)
        handle = await start_campaign(stack.client, stack.settings, spec, None)
        seen = ""
        for _ in range(100):
            _, seen = await _get(sdk_url)
            if value(seen, "simops_campaign_batches_in_flight") >= 1:
                break
            await asyncio.sleep(0.1)
        await handle.signal(CampaignWorkflow.pause)
        for _ in range(50):
            _, seen = await _get(sdk_url)
            if value(seen, "simops_campaign_phase", phase="paused") == 1:
                break
            await asyncio.sleep(0.1)
        await handle.terminate("test over")

    assert value(seen, "simops_campaign_phase", phase="paused") == 1, seen
    assert value(seen, "simops_campaign_phase", phase="running") == 0
    assert value(seen, "simops_campaign_batches_in_flight") >= 1


async def _wait_for_status(url: str, status: int) -> dict[str, Any]:
    for _ in range(100):
        answered, body = await _get(url)
        if answered == status:
            parsed: dict[str, Any] = json.loads(body)
            return parsed
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered {status}: {body}")


async def test_readyz_follows_the_worker_and_healthz_answers(
    dev_env: WorkflowEnvironment, emulator: RunningEmulator
) -> None:
    settings = emulator_settings(
        emulator, temporal_address=dev_env.client.service_client.config.target_host
    )
    readiness = Readiness()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    async with serve_observability("127.0.0.1", port, readiness, None):
        starting = await _wait_for_status(f"{base}/readyz", 503)
        worker = asyncio.create_task(run_worker(settings, stop, readiness))
        ready = await _wait_for_status(f"{base}/readyz", 200)
        health_status, _ = await _get(f"{base}/healthz")
        stop.set()
        await worker
        stopped = await _wait_for_status(f"{base}/readyz", 503)

    assert starting["problems"] == {"process": "starting"}
    assert ready == {"status": "ready"}
    assert health_status == 200
    assert stopped["problems"] == {"worker": "the worker is not running"}
