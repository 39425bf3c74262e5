"""Many campaigns on one account, on a real dev server and emulators whose `--rate` is the
account's budget: weighted shares, no 429, other accounts untouched, one-SIM operations first,
and a cap on running campaigns.

Every share is counted from the emulator's request log, which simops never writes: each request
is attributed to the campaign whose SIM it names.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction
from simops.campaigns.store.backends import store_backend
from simops.clients.accounts import campaign_share
from simops.clients.campaigns import CampaignHandle, campaign_progress, start_campaign
from simops.core.sim import OutcomeKind
from simops.devstack.in_process import LocalStack
from simops.messages import AccountShare
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.campaigns import new_sims, report, spec, write_lines
from tests.helpers.stacks import (
    campaign_test_stack,
    emulator_writes,
    start_sim_activation,
    wait_for_logged_writes,
)
from tests.helpers.supersim import EmulatorControl

BUDGET = 40.0
"""The account's budget, and the emulator's `--rate`: above it the emulator answers 429."""


def set_budget(stack: LocalStack, rate: float) -> None:
    """`simops accounts set-limit` for the stack's account, in the store every process shares."""
    account = stack.settings.twilio_account_sid
    assert account is not None
    with store_backend(stack.settings).accounts() as store:
        store.set_limit(account, rate, None)


async def start_activation_of(
    stack: LocalStack, tmp_path: Path, campaign_id: str, sim_sids: list[str], **fields: Any
) -> CampaignHandle:
    """Start activating exactly `sim_sids`, from a file of their own."""
    source = write_lines(tmp_path / f"{campaign_id}.csv", sim_sids)
    campaign = spec(
        campaign_id,
        CampaignAction.ACTIVATE,
        fleet=stack.emulator.parent.fleets[0],
        source=spec(campaign_id, CampaignAction.ACTIVATE).source.model_copy(
            update={"file_name": source.name}
        ),
        **fields,
    )
    return await start_campaign(stack.client, stack.settings, campaign, source)


def requests_by_campaign(
    log: Iterable[dict[str, Any]], sims_of: dict[str, set[str]], start: float, end: float
) -> Counter[str]:
    """Requests answered between `start` and `end`, by the campaign whose SIM each names."""
    counted: Counter[str] = Counter()
    for entry in log:
        if not start <= entry["at"] < end:
            continue
        for campaign_id, sims in sims_of.items():
            if entry["sim_sid"] in sims:
                counted[campaign_id] += 1
    return counted


def began_at(writes: list[dict[str, Any]], sims: set[str]) -> float:
    """When the first of `sims` was written (from the emulator's write log)."""
    return float(min(write["at"] for write in writes if write["sim_sid"] in sims))


def ended_at(writes: list[dict[str, Any]], sims: set[str]) -> float:
    """When the last of `sims` was written (from the emulator's write log)."""
    return float(max(write["at"] for write in writes if write["sim_sid"] in sims))


async def test_two_campaigns_share_the_account_by_weight_within_its_budget(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=440, rate=BUDGET, scheduled_delay=(0.1, 0.3))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        set_budget(stack, BUDGET)
        sims = [sim.sid for sim in await new_sims(stack, 440)]
        # Each needs about 20 s of writes and reads at its share, and has far more SIMs ready
        # than its share lets through (it is backlogged).
        light, heavy = sims[:110], sims[110:]
        control = EmulatorControl(emulator)
        started = time.time()
        backlogged: dict[str, Any] = {"concurrency": 100, "batch_size": 100}
        handles = [
            await start_activation_of(stack, tmp_path, "light", light, weight=1, **backlogged),
            await start_activation_of(stack, tmp_path, "heavy", heavy, weight=3, **backlogged),
        ]
        results = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for handle in handles)), 240
        )
        log = await control.requests(since=started)
        writes = await emulator_writes(emulator)

    assert [result.phase for result in results] == [CampaignPhase.COMPLETED] * 2
    assert all(row["outcome"] == "converged" for row in report(stack, "light"))
    # Both write from a moment after the later one's first write until the first of them ends
    # (preparation reads SIMs one by one: a campaign preparing is not backlogged, and what it
    # leaves goes to the other).
    both_start = max(began_at(writes, set(light)), began_at(writes, set(heavy))) + 1.0
    both_end = min(ended_at(writes, set(light)), ended_at(writes, set(heavy))) - 1.0
    counted = requests_by_campaign(
        log, {"light": set(light), "heavy": set(heavy)}, both_start, both_end
    )
    total = sum(counted.values())
    seconds = both_end - both_start
    spans = {
        name: (
            round(began_at(writes, set(sims)) - started, 1),
            round(ended_at(writes, set(sims)) - started, 1),
        )
        for name, sims in (("light", light), ("heavy", heavy))
    }
    shown = f"{counted} in {seconds:.1f} s; writes (s after the start): {spans}"
    assert seconds > 5, shown
    assert 0.20 <= counted["light"] / total <= 0.30, shown
    assert 0.70 <= counted["heavy"] / total <= 0.80, shown
    # Within the budget, and using it.
    assert total / seconds <= BUDGET * 1.05, shown
    assert total / seconds >= BUDGET * 0.85, shown
    assert not [entry for entry in log if entry["status"] == 429]


async def test_a_campaign_on_another_account_keeps_its_own_budget(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    # Two emulators: two API accounts, each limited to BUDGET by its own API.
    busy = await emulator_factory(seed_sims=600, rate=BUDGET, scheduled_delay=(0.1, 0.3))
    other = await emulator_factory(seed_sims=300, rate=BUDGET, scheduled_delay=(0.1, 0.3))
    async with (
        campaign_test_stack(dev_env, busy, tmp_path) as busy_stack,
        campaign_test_stack(dev_env, other, tmp_path) as other_stack,
    ):
        set_budget(busy_stack, BUDGET)
        set_budget(other_stack, BUDGET)
        busy_sims = [sim.sid for sim in await new_sims(busy_stack, 600)]
        other_sims = [sim.sid for sim in await new_sims(other_stack, 300)]
        started = time.time()
        handles = [
            await start_activation_of(
                busy_stack, tmp_path, "busy-1", busy_sims[:300], concurrency=50
            ),
            await start_activation_of(
                busy_stack, tmp_path, "busy-2", busy_sims[300:], concurrency=50
            ),
            await start_activation_of(other_stack, tmp_path, "other", other_sims, concurrency=50),
        ]
        # The shares while all three draw, as status shows them (every process's division),
        # read in one go so that they belong to the same moment.
        shares: dict[str, AccountShare] = {}
        for _ in range(300):
            shares = {}
            for campaign_id in ("busy-1", "busy-2", "other"):
                share = campaign_share(busy_stack.settings, campaign_id)
                if share is not None:
                    shares[campaign_id] = share
            if len(shares) == 3:
                break
            await asyncio.sleep(0.1)
        await asyncio.wait_for(asyncio.gather(*(handle.result() for handle in handles)), 240)
        busy_log = await EmulatorControl(busy).requests(since=started)
        other_log = await EmulatorControl(other).requests(since=started)

    assert set(shares) == {"busy-1", "busy-2", "other"}, shares
    assert shares["other"].account == other.parent.account_sid, shares
    assert shares["busy-1"].account == shares["busy-2"].account == busy.parent.account_sid
    # Alone on its account, it has the account's whole budget; the two others share theirs.
    assert shares["other"].rate == pytest.approx(BUDGET), shares
    assert shares["busy-1"].rate + shares["busy-2"].rate == pytest.approx(BUDGET), shares
    refused = [entry for entry in busy_log + other_log if entry["status"] == 429]
    assert not refused, refused[:5]


async def test_a_one_sim_operation_goes_ahead_of_a_saturating_campaign(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    budget = 20.0
    emulator = await emulator_factory(seed_sims=300, rate=budget, scheduled_delay=(0.2, 0.2))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        set_budget(stack, budget)
        sims = [sim.sid for sim in await new_sims(stack, 300)]
        started = time.time()
        handle = await start_activation_of(stack, tmp_path, "saturating", sims[1:], concurrency=100)
        # Prepared and writing, with far more SIMs wanting requests than the budget lets through.
        for _ in range(600):
            progress = await campaign_progress(
                stack.settings, handle, WorkflowExecutionStatus.RUNNING
            )
            if progress.ended_rows >= 10:
                break
            await asyncio.sleep(0.1)
        ended_before = progress.ended_rows
        begun = time.monotonic()
        operation = await start_sim_activation(stack, sims[0])
        outcome = await asyncio.wait_for(operation.result(), 30)
        took = time.monotonic() - begun
        progress = await campaign_progress(stack.settings, handle, WorkflowExecutionStatus.RUNNING)
        await handle.signal(CampaignWorkflow.cancel, "test over")
        await asyncio.wait_for(handle.result(), 120)
        log = await EmulatorControl(emulator).requests(since=started)

    seen = f"{progress}; requests: {Counter((e['route'], e['status']) for e in log)}"
    assert outcome.outcome == OutcomeKind.CONVERGED, outcome
    # The status shows the campaign's share: alone on the account, all of it.
    assert progress.share is not None, progress
    assert (progress.share.rate, progress.share.account_rate) == (budget, budget), progress
    # The campaign was still at it, with a couple of hundred SIMs queued behind the budget:
    # behind its queue, the operation would have waited ten seconds or more.
    assert 10 <= ended_before <= progress.ended_rows < 200, seen
    assert progress.phase == CampaignPhase.RUNNING, seen
    assert took < 3.0, f"the one-SIM activation took {took:.1f} s; {seen}"
    assert not [entry for entry in log if entry["status"] == 429], seen


async def test_campaigns_beyond_the_cap_queue_and_start_in_order(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=100, scheduled_delay=(0.5, 0.8))
    async with campaign_test_stack(dev_env, emulator, tmp_path, max_running_campaigns=1) as stack:
        sims = [sim.sid for sim in await new_sims(stack, 100)]
        # The first runs for several seconds: the others are seen queued behind it.
        groups = {"first": sims[:60], "second": sims[60:80], "third": sims[80:]}
        handles = {}
        for campaign_id, group in groups.items():
            handles[campaign_id] = await start_activation_of(
                stack, tmp_path, campaign_id, group, concurrency=5 if campaign_id == "first" else 10
            )
            if campaign_id == "first":
                # The first's claim must reach the store before the others': a campaign that
                # claims a free place runs, whichever campaign of the account started first.
                await wait_for_logged_writes(emulator, of=set(group), seconds=60)
        queued: dict[str, int] = {}
        for _ in range(150):
            for campaign_id in ("second", "third"):
                progress = await handles[campaign_id].query(CampaignWorkflow.progress)
                if progress.phase == CampaignPhase.QUEUED and progress.queued_behind is not None:
                    seen = max(queued.get(campaign_id, 0), progress.queued_behind)
                    queued[campaign_id] = seen
            if queued == {"second": 0, "third": 1}:
                break
            await asyncio.sleep(0.1)
        results = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for handle in handles.values())), 180
        )
        writes = await emulator_writes(emulator)

    # Both waited queued, the second first. The third queues at its start time, behind the
    # second, even when its claim reached the store first; it then shows 0 ahead until its
    # next claim (a freed place, or the recheck) counts the second.
    assert set(queued) == {"second", "third"} and queued["second"] == 0, queued
    assert queued["third"] in (0, 1), queued
    assert [result.phase for result in results] == [CampaignPhase.COMPLETED] * 3
    first_write = {
        campaign_id: began_at(writes, set(group)) for campaign_id, group in groups.items()
    }
    last_write = {
        campaign_id: ended_at(writes, set(group)) for campaign_id, group in groups.items()
    }
    # One at a time, in start order: each begins writing after the one before wrote its last.
    assert last_write["first"] < first_write["second"]
    assert last_write["second"] < first_write["third"]
