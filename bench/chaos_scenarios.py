"""Chaos scenarios on the process stack: each breaks something during a campaign and accounts
for every SIM afterwards. `bench/chaos.py` runs them at full size; tests/chaos runs them small.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from processes import ProcessStack, process_stack

from simops.callbacks.urls import callback_url
from simops.campaign_store import CampaignStore
from simops.models import (
    CampaignAction,
    CampaignResult,
    CampaignSource,
    CampaignSpec,
    OutcomeKind,
    SimStatus,
)
from simops.operations import CampaignHandle, start_campaign
from simops.supersim.client import SuperSimClient
from simops.supersim.signatures import kore_signature, twilio_signature
from simops.workflows.campaign import CampaignWorkflow, campaign_workflow_id

EMULATOR = ["--scheduled-delay", "0.5-1.5", "--max-concurrency", "100"]


@dataclass
class ChaosResult:
    """One line of the chaos table."""

    scenario: str
    sims: int
    converged: int
    failed: Counter[str]
    unaccounted: int
    false_converged: int
    max_writes_per_sim: int
    minimum_writes: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every SIM accounted for, none falsely converged, none written more than it needs."""
        return (
            self.unaccounted == 0
            and self.false_converged == 0
            and self.max_writes_per_sim <= self.minimum_writes
        )


Scenario = Callable[[ProcessStack, CampaignHandle, int], Awaitable[list[str]]]


async def new_sims(stack: ProcessStack, count: int) -> list[str]:
    """SIDs of `count` new SIMs."""
    async with SuperSimClient.from_settings(stack.settings) as api:
        return [sim.sid async for sim in api.list_sims(status=SimStatus.NEW, limit=count)]


async def wait_for_rows(handle: CampaignHandle, rows: int, limit_seconds: float = 600) -> int:
    """Wait until at least `rows` rows ended; how many had."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        with_progress = await _progress_or_none(handle)
        if with_progress is not None and with_progress >= rows:
            return with_progress
        await asyncio.sleep(0.25)
    raise TimeoutError(f"fewer than {rows} rows ended in {limit_seconds} s")


async def _progress_or_none(handle: CampaignHandle) -> int | None:
    try:
        progress = await handle.query(CampaignWorkflow.progress)
    except Exception:  # the server or the worker may be down: that is the scenario
        return None
    return progress.ended_rows


async def account(
    stack: ProcessStack, campaign_id: str, sims: int
) -> tuple[int, Counter[str], int, int]:
    """Converged rows, failures by reason, rows without exactly one final outcome, and rows
    reported converged whose SIM is not in fact converged (read back from the API)."""
    store = CampaignStore.open(stack.settings.campaign_dir, campaign_id)
    try:
        rows = list(store.report_rows())
    finally:
        store.close()
    ended = Counter(row.row_no for row in rows if row.outcome != "pending")
    unaccounted = sims - sum(1 for count in ended.values() if count == 1)
    converged = [
        row for row in rows if row.outcome in (OutcomeKind.CONVERGED, OutcomeKind.ALREADY_CONVERGED)
    ]
    failed = Counter(row.message or "?" for row in rows if row.outcome == OutcomeKind.FAILED)
    fleet = stack.emulator.parent.fleets[0]
    async with SuperSimClient.from_settings(stack.settings) as api:
        truly = {
            sim.sid
            async for sim in api.list_sims(status=SimStatus.ACTIVE)
            if sim.fleet_sid == fleet
        }
    false_converged = sum(1 for row in converged if row.sim_sid not in truly)
    return len(converged), failed, unaccounted, false_converged


async def run_scenario(
    name: str,
    directory: Path,
    sims: int,
    scenario: Scenario,
    *,
    emulator_args: list[str] | None = None,
    spec_fields: dict[str, object] | None = None,
) -> ChaosResult:
    """Run an activation campaign over `sims` new SIMs while `scenario` breaks things."""
    args = [*(emulator_args or EMULATOR), "--seed-sims", str(sims)]
    async with process_stack(directory, args) as stack:
        sids = await new_sims(stack, sims)
        source = directory / "sims.csv"
        source.write_text("sim\n" + "".join(f"{sid}\n" for sid in sids))
        campaign_id = f"chaos-{uuid.uuid4().hex[:8]}"
        spec = CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.ACTIVATE,
            source=CampaignSource(file_name=source.name),
            fleet=stack.emulator.parent.fleets[0],
            concurrency=100,
            **(spec_fields or {}),  # type: ignore[arg-type]
        )
        started = time.perf_counter()
        handle = await start_campaign(stack.client, stack.settings, spec, source)
        notes = await scenario(stack, handle, sims)
        result = await _result(stack, campaign_id)
        seconds = time.perf_counter() - started
        stats = await stack.emulator_json("GET", "/_emulator/stats?per_sim=false")
        converged, failed, unaccounted, false_converged = await account(stack, campaign_id, sims)
        if result.phase.value != "completed":
            notes.append(f"campaign ended {result.phase.value}: {result.stop_reason}")
    return ChaosResult(
        scenario=name,
        sims=sims,
        converged=converged,
        failed=failed,
        unaccounted=unaccounted,
        false_converged=false_converged,
        max_writes_per_sim=int(stats["max_writes_per_sim"]),
        minimum_writes=1,
        seconds=seconds,
        notes=notes,
    )


async def _result(stack: ProcessStack, campaign_id: str) -> CampaignResult:
    # After a server restart the bench's own client reconnects on its next call.
    handle = stack.client.get_workflow_handle_for(
        CampaignWorkflow.run, campaign_workflow_id(campaign_id)
    )
    for _ in range(120):
        try:
            return await handle.result()
        except Exception:  # the server may still be coming back
            await asyncio.sleep(1)
    return await handle.result()


def kill_worker(times: int) -> Scenario:
    """SIGKILL the worker `times` times, evenly through the campaign, restarting it each time."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        notes = []
        for kill in range(1, times + 1):
            ended = await wait_for_rows(handle, sims * kill // (times + 1))
            await stack.kill_worker()
            notes.append(f"worker SIGKILLed at {ended} rows")
            await asyncio.sleep(1)
            await stack.start_worker()
        return notes

    return scenario


def restart_server() -> Scenario:
    """SIGKILL the Temporal dev server mid-campaign and start it again on its state file."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        ended = await wait_for_rows(handle, sims // 3)
        await stack.kill_temporal()
        await asyncio.sleep(2)
        await stack.restart_temporal()
        return [f"dev server SIGKILLed at {ended} rows and restarted"]

    return scenario


def ingress_down(seconds: float) -> Scenario:
    """Stop the callback ingress for `seconds` mid-campaign: batches must fall back to polling."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        ended = await wait_for_rows(handle, sims // 4)
        await stack.stop_ingress()
        await asyncio.sleep(seconds)
        await stack.start_ingress()
        return [f"ingress down for {seconds:g} s from {ended} rows"]

    return scenario


def faults(**rates: float) -> Scenario:
    """Turn on the emulator's faults for the whole campaign."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        await stack.emulator_json("POST", "/_emulator/faults", rates)
        return [", ".join(f"{name} {value:g}" for name, value in rates.items())]

    return scenario


def forged_callbacks(per_kind: int) -> Scenario:
    """Forged, badly signed, replayed and lying callbacks aimed at the running batches."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        await wait_for_rows(handle, 1)
        answers: Counter[str] = Counter()
        campaign = handle.id
        batch_ids = [f"{campaign}-batch-{n}" for n in range(1, 4)]
        async with SuperSimClient.from_settings(stack.settings) as api:
            scheduled = [s async for s in api.list_sims(status=SimStatus.SCHEDULED, limit=per_kind)]
        async with aiohttp.ClientSession() as session:
            for batch_id in batch_ids:
                for sim in scheduled:
                    for kind, status in await _send_attacks(stack, session, batch_id, sim.sid):
                        answers[f"{kind} {status}"] += 1
        return [f"attacks answered: {dict(answers)}"]

    return scenario


async def _send_attacks(
    stack: ProcessStack, session: aiohttp.ClientSession, workflow_id: str, sim_sid: str
) -> list[tuple[str, int]]:
    base = stack.settings.callback_base_url or ""
    secret = stack.settings.callback_secret
    assert secret is not None
    good_url = callback_url(base, secret.get_secret_value(), workflow_id)
    parent = stack.emulator.parent
    fields = {
        "SimSid": sim_sid,
        "SimUniqueName": "",
        "SimStatus": "active",
        "AccountSid": parent.account_sid,
    }
    body = urlencode(fields).encode()

    def headers(url: str, token: str) -> dict[str, str]:
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "kore-signature": kore_signature(parent.webhook_secret, "POST", url, body),
            "X-Twilio-Signature": twilio_signature(parent.auth_token, url, list(fields.items())),
            "kore-idempotency-token": token,
        }

    forged_url = good_url.rsplit("/", 1)[0] + "/" + "0" * 32
    bad_signature = headers(good_url, uuid.uuid4().hex) | {"kore-signature": "0" * 64}
    replay_token = uuid.uuid4().hex
    attempts = [
        ("forged-url", forged_url, headers(forged_url, uuid.uuid4().hex)),
        ("bad-signature", good_url, bad_signature),
        ("lying-but-signed", good_url, headers(good_url, replay_token)),
        ("replayed", good_url, headers(good_url, replay_token)),
    ]
    answers = []
    for kind, url, sent in attempts:
        async with session.post(url, data=body, headers=sent) as response:
            answers.append((kind, response.status))
    return answers
