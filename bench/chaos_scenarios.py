"""Chaos scenarios on the process stack: each breaks something during a campaign and accounts
for every SIM afterwards. `bench/chaos.py` runs them at full size; tests/chaos runs them small.

A scenario breaks things; a workload is the campaign it breaks them under: an activation
(`activation`) or an account migration (`migration`), each saying what every SIM must look like
once converged and how many state-changing writes its path needs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
    MigrationSpec,
    OutcomeKind,
    SimStatus,
)
from simops.operations import CampaignHandle, start_campaign
from simops.supersim.client import SuperSimClient
from simops.supersim.signatures import kore_signature, twilio_signature
from simops.workflows.campaign import CampaignWorkflow, campaign_workflow_id

EMULATOR = ["--scheduled-delay", "0.5-1.5", "--max-concurrency", "100"]
READ_BACK_AT_ONCE = 100
"""SIMs read back at once when checking the ones reported converged."""


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
    overwritten: int
    """SIMs that got more state-changing writes than their path needs (must be 0)."""
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every SIM accounted for, none falsely converged, none written more than it needs."""
        return self.unaccounted == 0 and self.false_converged == 0 and self.overwritten == 0


Scenario = Callable[[ProcessStack, CampaignHandle, int], Awaitable[list[str]]]

Converged = tuple[str, SimStatus, str | None]
"""Where a converged SIM is: its account, status and Fleet."""


@dataclass
class Prepared:
    """A workload's campaign, ready to start: its SIMs, what it does, and the end it must reach.

    `expected` and `writes_needed` hold every SIM of `sids`: the state it must read back in
    once reported converged, and the state-changing writes its path needs at most.
    """

    sids: list[str]
    action: CampaignAction
    expected: dict[str, Converged]
    writes_needed: dict[str, int]
    fleet: str | None = None
    migration: MigrationSpec | None = None


@dataclass(frozen=True)
class Workload:
    """The campaign a scenario runs: the emulator it needs and how its SIMs are readied."""

    emulator_args: list[str]
    prepare: Callable[[ProcessStack, int], Awaitable[Prepared]]


async def new_sims(stack: ProcessStack, count: int) -> list[str]:
    """SIDs of `count` new SIMs."""
    async with SuperSimClient.from_settings(stack.settings) as api:
        return [sim.sid async for sim in api.list_sims(status=SimStatus.NEW, limit=count)]


async def _prepare_activation(stack: ProcessStack, sims: int) -> Prepared:
    return _activation_of(stack, await new_sims(stack, sims))


def _activation_of(stack: ProcessStack, sids: list[str]) -> Prepared:
    parent = stack.emulator.parent
    fleet = parent.fleets[0]
    return Prepared(
        sids=sids,
        action=CampaignAction.ACTIVATE,
        expected=dict.fromkeys(sids, (parent.account_sid, SimStatus.ACTIVE, fleet)),
        writes_needed=dict.fromkeys(sids, 1),
        fleet=fleet,
    )


activation = Workload(emulator_args=[], prepare=_prepare_activation)
"""New SIMs activated into the parent's first Fleet: one write each."""

MIGRATION_ACTIVE_SHARE = 3
"""One SIM in this many of a migration starts `active`; the others are `new`."""


async def _prepare_migration(stack: ProcessStack, sims: int) -> Prepared:
    child = stack.emulator.accounts[1]
    sids = await new_sims(stack, sims)
    active = sids[: sims // MIGRATION_ACTIVE_SHARE]
    # The active SIMs are activated by a campaign of their own before the migration starts,
    # and the emulator's counters then start again from zero for the migration's writes.
    await _run_to_end(stack, _activation_of(stack, active), "setup")
    await stack.emulator_json("POST", "/_emulator/stats/reset")
    # The emulator seeds every account's Fleets in the same order, "default" first.
    child_default = child.fleets[0]
    expected: dict[str, Converged] = dict.fromkeys(sids, (child.account_sid, SimStatus.NEW, None))
    expected |= dict.fromkeys(active, (child.account_sid, SimStatus.ACTIVE, child_default))
    return Prepared(
        sids=sids,
        action=CampaignAction.MOVE,
        expected=expected,
        # A new SIM moves (1); an active one is deactivated, moved and reactivated (3).
        writes_needed=dict.fromkeys(sids, 1) | dict.fromkeys(active, 3),
        migration=MigrationSpec(
            to_account=child.account_sid,
            fleet_map={"default": "default"},
            deactivate_first=True,
            reactivate=True,
        ),
    )


migration = Workload(
    emulator_args=["--child-accounts", "1", "--inactive-move-beta"],
    prepare=_prepare_migration,
)
"""SIMs moved from the parent to a child, a third of them active (deactivated, moved and
reactivated into the child's Fleet of the same name), the rest new."""


async def _run_to_end(stack: ProcessStack, prepared: Prepared, campaign_id: str) -> None:
    handle = await _start(stack, prepared, campaign_id, {})
    result = await handle.result()
    if result.phase.value != "completed":
        raise RuntimeError(f"{campaign_id} ended {result.phase.value}: {result.stop_reason}")


async def _start(
    stack: ProcessStack, prepared: Prepared, campaign_id: str, spec_fields: Mapping[str, object]
) -> CampaignHandle:
    source = stack.directory / f"{campaign_id}.csv"
    source.write_text("sim\n" + "".join(f"{sid}\n" for sid in prepared.sids))
    spec = _spec(prepared, campaign_id, source.name, spec_fields)
    return await start_campaign(stack.client, stack.settings, spec, source)


def _spec(
    prepared: Prepared, campaign_id: str, file_name: str, spec_fields: Mapping[str, object]
) -> CampaignSpec:
    return CampaignSpec(
        campaign_id=campaign_id,
        action=prepared.action,
        source=CampaignSource(file_name=file_name),
        fleet=prepared.fleet,
        migration=prepared.migration,
        **{"concurrency": 100, **spec_fields},
    )


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
    stack: ProcessStack, campaign_id: str, prepared: Prepared
) -> tuple[int, Counter[str], int, int]:
    """Converged rows, failures by reason, rows without exactly one final outcome, and rows
    reported converged whose SIM is not in fact where it should be (read back from the API)."""
    with CampaignStore.open(stack.settings.campaign_dir, campaign_id) as store:
        rows = list(store.report_rows())
    ended = Counter(row.row_no for row in rows if row.outcome != "pending")
    unaccounted = len(prepared.sids) - sum(1 for count in ended.values() if count == 1)
    converged = [
        row.sim_sid or ""
        for row in rows
        if row.outcome in (OutcomeKind.CONVERGED, OutcomeKind.ALREADY_CONVERGED)
    ]
    failed = Counter(row.message or "?" for row in rows if row.outcome == OutcomeKind.FAILED)
    found = await _read_back(stack, converged)
    false_converged = sum(1 for sid in converged if found.get(sid) != prepared.expected.get(sid))
    return len(converged), failed, unaccounted, false_converged


async def _read_back(stack: ProcessStack, sids: Sequence[str]) -> dict[str, Converged]:
    async with SuperSimClient.from_settings(stack.settings) as api:

        async def where(sid: str) -> Converged:
            sim = await api.fetch_sim(sid)
            return sim.account_sid, sim.status, sim.fleet_sid

        found: dict[str, Converged] = {}
        for start in range(0, len(sids), READ_BACK_AT_ONCE):
            group = sids[start : start + READ_BACK_AT_ONCE]
            found.update(zip(group, await asyncio.gather(*map(where, group)), strict=True))
        return found


def overwritten(per_sim: dict[str, int], writes_needed: dict[str, int]) -> int:
    """How many SIMs got more state-changing writes than their path needs."""
    return sum(1 for sid, writes in per_sim.items() if writes > writes_needed.get(sid, 0))


async def run_scenario(
    name: str,
    directory: Path,
    sims: int,
    scenario: Scenario,
    *,
    workload: Workload = activation,
    emulator_args: list[str] | None = None,
    spec_fields: Mapping[str, object] | None = None,
) -> ChaosResult:
    """Run the workload's campaign over `sims` SIMs while `scenario` breaks things."""
    args = [*(emulator_args or EMULATOR), *workload.emulator_args, "--seed-sims", str(sims)]
    async with process_stack(directory, args) as stack:
        prepared = await workload.prepare(stack, sims)
        campaign_id = f"chaos-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        handle = await _start(stack, prepared, campaign_id, spec_fields or {})
        notes = await scenario(stack, handle, sims)
        result = await _result(stack, campaign_id)
        seconds = time.perf_counter() - started
        stats = await stack.emulator_json("GET", "/_emulator/stats")
        converged, failed, unaccounted, false_converged = await account(
            stack, campaign_id, prepared
        )
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
        overwritten=overwritten(stats["state_changing_writes"]["per_sim"], prepared.writes_needed),
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
