"""JSON logs: one object per line, naming the campaign, batch, workflow and activity of a record
logged while a real campaign runs (on the dev server, with 429s injected so the API client logs
its retries inside the batch activities)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.clients.campaigns import start_campaign
from simops.contract import batch_workflow_id, campaign_of, campaign_workflow_id
from simops.core.sim import SimStatus
from simops.emulator.server import RunningEmulator
from simops.observability.logging import JsonFormatter
from tests.helpers.stack_scan import capture_log_records
from tests.helpers.stacks import campaign_test_stack, set_faults

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("workflow_id", "expected"),
    [
        (campaign_workflow_id("launch-1"), ("launch-1", None)),
        (f"{campaign_workflow_id('launch-1')}-batch-12", ("launch-1", 12)),
        (batch_workflow_id("a-batch-b", 3), ("a-batch-b", 3)),
        ("sim-HS0123", (None, None)),
    ],
)
def test_a_workflow_id_names_its_campaign_and_batch(
    workflow_id: str, expected: tuple[str | None, int | None]
) -> None:
    assert campaign_of(workflow_id) == expected


def test_a_record_outside_temporal_has_only_the_basic_fields() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("simops.x", logging.ERROR, __file__, 1, "a %s", ("b",), None)
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))

    assert set(entry) == {"time", "level", "logger", "message", "exception"}
    assert entry["message"] == "a b" and "ValueError: boom" in entry["exception"]


async def test_a_campaign_logs_json_lines_naming_campaign_batch_and_activity(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator: RunningEmulator = await emulator_factory(seed_sims=20)
    await set_faults(emulator, rate_limit_rate=0.3)
    log = tmp_path / "simops.jsonl"
    with capture_log_records(log, JsonFormatter()):
        async with campaign_test_stack(
            dev_env, emulator, tmp_path, api_backoff_base_seconds=0.01
        ) as stack:
            spec = CampaignSpec(
                campaign_id="logged",
                action=CampaignAction.ACTIVATE,
                fleet=emulator.parent.fleets[0],
                source=CampaignSource(status=SimStatus.NEW),
                batch_size=10,
            )
            handle = await start_campaign(stack.client, stack.settings, spec, None)
            result = await handle.result()

    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    in_batches = [
        entry for entry in entries if entry.get("activity") in {"start_batch", "settle_batch"}
    ]

    assert result.phase == CampaignPhase.COMPLETED
    assert in_batches, "no record logged inside a batch activity"
    for entry in in_batches:
        assert entry["campaign_id"] == "logged"
        assert entry["batch"] in {1, 2}
        assert entry["workflow_id"] == f"{campaign_workflow_id('logged')}-batch-{entry['batch']}"
        assert entry["run_id"] and entry["workflow_type"] and entry["attempt"] >= 1
