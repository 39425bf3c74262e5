"""Campaigns end to end on a Temporal dev server and the emulator: outcomes, controls, restarts."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource
from simops.clients.campaigns import (
    CampaignAlreadyStartedError,
    campaign_progress,
    start_campaign,
    workflow_status,
)
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack
from simops.messages import CampaignResult, CampaignRunInput
from simops.workflows.campaign import CampaignWorkflow, batch_step_timeout
from tests.helpers.campaigns import (
    new_sims,
    new_sims_file,
    report,
    spec,
    start_activation,
    write_lines,
)
from tests.helpers.stacks import (
    campaign_test_stack,
    emulator_stats,
    set_faults,
    writes_per_sim,
    writes_total,
)


async def test_activation_from_a_file_accounts_for_every_row(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    sims = await new_sims(stack, 25)
    by_iccid = [sim.iccid for sim in sims[:10] if sim.iccid]
    lines = ["sim", *by_iccid, *(sim.sid for sim in sims[10:])]
    lines += [sims[12].sid, "HS" + "0" * 32, "8988307000012345678", "not a sim!"]
    source = write_lines(tmp_path / "sims.csv", lines)
    fleet = stack.emulator.parent.fleets[0]

    handle = await start_campaign(
        stack.client,
        stack.settings,
        spec("activate-file", CampaignAction.ACTIVATE, fleet=fleet),
        source,
    )
    result = await handle.result()
    rows = report(stack, "activate-file")
    stats = await emulator_stats(stack.emulator)

    assert result.phase == CampaignPhase.COMPLETED
    assert len(rows) == len(lines) - 1
    assert [int(row["row_no"]) for row in rows] == list(range(1, len(lines)))
    outcomes = Counter(row["outcome"] for row in rows)
    assert outcomes == {"converged": 25, "invalid": 4}, rows
    assert result.counts.get("converged") == 25 and result.counts.get("invalid") == 4
    duplicate = rows[25]
    assert duplicate["outcome"] == "invalid" and "duplicate" in duplicate["message"].lower()
    assert stats["max_writes_per_sim"] == 1
    assert stats["state_changing_writes"]["total"] == 25
    for sim in sims:
        assert (await stack.api.fetch_sim(sim.sid)).status == SimStatus.ACTIVE


async def test_a_filter_campaign_and_a_second_run_is_already_converged(
    campaign_stack: LocalStack,
) -> None:
    stack = campaign_stack
    fleet = stack.emulator.parent.fleets[1]
    by_filter = spec(
        "ready-new",
        CampaignAction.READY,
        fleet=fleet,
        source=CampaignSource(status=SimStatus.NEW),
    )
    first = await (await start_campaign(stack.client, stack.settings, by_filter, None)).result()
    again = spec(
        "ready-again",
        CampaignAction.READY,
        fleet=fleet,
        source=CampaignSource(status=SimStatus.READY),
    )
    second = await (await start_campaign(stack.client, stack.settings, again, None)).result()

    assert first.counts.get("converged") == 60
    assert second.counts.get("already_converged") == 60
    outcomes = Counter(row["outcome"] for row in report(stack, "ready-again"))
    assert outcomes == {"already_converged": 60}
    assert await writes_total(stack.emulator) == 60


async def test_starting_the_same_id_twice_starts_one_campaign(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    source = await new_sims_file(stack, tmp_path, 3)
    campaign = spec("twice", CampaignAction.ACTIVATE, fleet=stack.emulator.parent.fleets[0])

    handle = await start_campaign(stack.client, stack.settings, campaign, source)
    with pytest.raises(CampaignAlreadyStartedError, match="not starting a second"):
        await start_campaign(stack.client, stack.settings, campaign, source)
    await handle.result()
    with pytest.raises(CampaignAlreadyStartedError):
        await start_campaign(stack.client, stack.settings, campaign, source)

    assert await writes_total(stack.emulator) == 3


async def test_pause_holds_new_batches_and_resume_finishes(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    handle = await start_activation(stack, tmp_path, "paused", 40, concurrency=25)
    await handle.signal(CampaignWorkflow.pause)
    await asyncio.sleep(3)
    paused = await handle.query(CampaignWorkflow.progress)
    writes_while_paused = await writes_total(stack.emulator)
    await asyncio.sleep(1)
    still = await writes_total(stack.emulator)
    await handle.signal(CampaignWorkflow.resume)
    result = await handle.result()

    assert paused.phase == CampaignPhase.PAUSED
    assert writes_while_paused == still
    assert writes_while_paused < 40
    assert result.phase == CampaignPhase.COMPLETED
    assert result.counts.get("converged") == 40


async def test_cancel_reports_unstarted_rows_as_cancelled(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    handle = await start_activation(stack, tmp_path, "cancelled", 50, concurrency=25)
    await handle.signal(CampaignWorkflow.pause)
    await handle.signal(CampaignWorkflow.cancel, "change freeze")
    result = await handle.result()
    rows = report(stack, "cancelled")

    assert result.phase == CampaignPhase.CANCELLED
    outcomes = Counter(row["outcome"] for row in rows)
    assert sum(outcomes.values()) == 50
    assert outcomes["cancelled"] > 0
    assert set(outcomes) <= {"converged", "cancelled"}
    cancelled = [row for row in rows if row["outcome"] == "cancelled"]
    assert all("change freeze" in row["message"] for row in cancelled)
    writes = await writes_total(stack.emulator)
    assert writes == outcomes["converged"]


async def activate_stuck_sims(
    stack: LocalStack, tmp_path: Path, campaign_id: str, sim_count: int, **fields: Any
) -> CampaignResult:
    """Make every update stay scheduled, then activate `sim_count` new SIMs (each failing its
    deadline of 2 s) and wait for the campaign's result."""
    await set_faults(stack.emulator, stuck_rate=1.0)
    handle = await start_activation(
        stack,
        tmp_path,
        campaign_id,
        sim_count,
        callback_wait_seconds=0.5,
        deadline_seconds=2.0,
        **fields,
    )
    return await handle.result()


async def test_failure_threshold_stops_new_writes(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    result = await activate_stuck_sims(
        stack, tmp_path, "threshold", 40, concurrency=5, max_failures=5
    )
    rows = report(stack, "threshold")

    assert result.phase == CampaignPhase.STOPPED
    assert result.stop_reason is not None and "threshold" in result.stop_reason
    outcomes = Counter(row["outcome"] for row in rows)
    assert outcomes["failed"] >= 5 and outcomes["cancelled"] > 0
    assert sum(outcomes.values()) == 40
    failed = [row for row in rows if row["outcome"] == "failed"]
    assert all("deadline" in row["message"] for row in failed)
    writes = await writes_total(stack.emulator)
    assert writes == outcomes["failed"]


async def test_a_failing_canary_stops_the_campaign(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    result = await activate_stuck_sims(stack, tmp_path, "canary", 30, canary=3)
    outcomes = Counter(row["outcome"] for row in report(stack, "canary"))

    assert result.phase == CampaignPhase.STOPPED
    assert result.stop_reason is not None and "canary" in result.stop_reason
    assert outcomes == {"failed": 3, "cancelled": 27}
    assert await writes_total(stack.emulator) == 3


async def test_a_worker_restart_mid_campaign_loses_no_sim(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=120, scheduled_delay=(1.0, 1.5))
    task_queue = "restart-test"
    async with campaign_test_stack(dev_env, emulator, tmp_path, task_queue=task_queue) as first:
        source = await new_sims_file(first, tmp_path, 120)
        campaign = spec(
            "restart", CampaignAction.ACTIVATE, fleet=emulator.parent.fleets[0], concurrency=10
        )
        handle = await start_campaign(first.client, first.settings, campaign, source)
        for _ in range(100):
            progress = await handle.query(CampaignWorkflow.progress)
            if progress.ended_rows >= 10:
                break
            await asyncio.sleep(0.1)
    # The first worker is gone mid-campaign; a second one takes over from the history.
    async with campaign_test_stack(
        dev_env, emulator, tmp_path, task_queue="restart-test"
    ) as second:
        result = await handle.result()
        rows = report(second, "restart")
    stats = await emulator_stats(emulator)

    assert 10 <= progress.ended_rows < 120
    assert result.phase == CampaignPhase.COMPLETED
    assert len(rows) == 120
    assert Counter(row["outcome"] for row in rows) == {"converged": 120}
    assert stats["max_writes_per_sim"] == 1
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_a_long_campaign_continues_as_new_and_loses_nothing(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    handle = await start_activation(
        stack, tmp_path, "continued", 30, batch_size=5, batches_per_run=2
    )
    result = await handle.result()
    first_run = stack.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    first_history = await first_run.fetch_history()

    assert result.phase == CampaignPhase.COMPLETED
    assert result.counts.get("converged") == 30
    assert (
        first_history.events[-1].event_type
        == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    )
    assert Counter(row["outcome"] for row in report(stack, "continued")) == {"converged": 30}


async def wait_until_running(
    stack: LocalStack, workflow_id: str, *, seconds: float = 10.0, after: str | None = None
) -> str:
    """Wait until a run of the workflow (other than run `after`) runs; its run ID. Fails naming
    what it saw once `seconds` passed."""
    status = None
    for _ in range(int(seconds / 0.05)):
        try:
            described = await stack.client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            described = None
        status = described.status if described is not None else None
        if (
            described is not None
            and status == WorkflowExecutionStatus.RUNNING
            and described.run_id != after
        ):
            return described.run_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never ran (last status {status})")


async def wait_for_writes(stack: LocalStack, writes: int) -> None:
    """Wait (10 s at most) until the emulator counted `writes` state-changing writes."""
    total = 0
    for _ in range(200):
        total = await writes_total(stack.emulator)
        if total >= writes:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{total} writes after 10 s, waiting for {writes}")


async def test_a_terminated_batch_runs_again_and_the_campaign_finishes(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    # Callbacks lost: batches wait, then poll, so there is time to terminate one mid-way.
    await set_faults(stack.emulator, drop_callback_rate=1.0)
    handle = await start_activation(stack, tmp_path, "terminated", 20, callback_wait_seconds=1.0)
    await wait_until_running(stack, "campaign-terminated-batch-1")
    await wait_for_writes(stack, 10)
    first = stack.client.get_workflow_handle("campaign-terminated-batch-1")
    first_run = (await first.describe()).run_id
    await first.terminate("chaos")
    result = await asyncio.wait_for(handle.result(), 90)
    rows = report(stack, "terminated")
    stats = await emulator_stats(stack.emulator)

    assert result.phase == CampaignPhase.COMPLETED
    assert [(row["outcome"], row["writes"]) for row in rows] == [("converged", "1")] * 20
    assert stats["max_writes_per_sim"] == 1
    again = await stack.client.get_workflow_handle("campaign-terminated-batch-1").describe()
    assert again.status == WorkflowExecutionStatus.COMPLETED and again.run_id != first_run


async def test_a_write_refused_by_a_5xx_is_read_again_without_waiting_for_the_next_poll(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    """A write answered 500 may never have reached the SIM, so no callback comes for it: the
    batch reads such a SIM again within seconds, not at its next poll (10 minutes away here),
    and every SIM is still written exactly once."""
    stack = campaign_stack
    source = await new_sims_file(stack, tmp_path, 30)
    campaign = spec(
        "lost-answers",
        CampaignAction.ACTIVATE,
        fleet=stack.emulator.parent.fleets[0],
        callback_wait_seconds=600.0,
    )
    # Every API request may fail: reads are retried by the client, writes are not (their
    # answer is lost, the update may or may not have been made).
    await set_faults(stack.emulator, error_rate=0.2)
    handle = await start_campaign(stack.client, stack.settings, campaign, source)
    try:
        result = await asyncio.wait_for(handle.result(), 120)
    except TimeoutError:
        status = await workflow_status(handle)
        progress = await campaign_progress(stack.settings, handle, status)
        pytest.fail(f"the campaign did not end within 120 s: {progress.model_dump_json()}")
    await set_faults(stack.emulator, error_rate=0.0)
    rows = report(stack, "lost-answers")
    stats = await emulator_stats(stack.emulator)

    assert result.phase == CampaignPhase.COMPLETED
    assert [(row["outcome"], row["writes"]) for row in rows] == [("converged", "1")] * 30
    assert stats["max_writes_per_sim"] == 1
    # Some first writes were answered 500 and sent again: what this test is about happened.
    assert any(int(row["attempts"]) > 1 for row in rows), rows


async def test_a_batch_that_keeps_failing_ends_its_rows_failed_and_nothing_hangs(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    # Updates that never resolve: every run of the batch is still waiting when it is
    # terminated (with callbacks merely dropped, a re-run 20 s later finds the SIMs active).
    await set_faults(stack.emulator, stuck_rate=1.0)
    handle = await start_activation(stack, tmp_path, "doomed", 10, callback_wait_seconds=30.0)
    run_id = None
    for _ in range(3):
        # Each new run starts 20 s after the last one failed.
        run_id = await wait_until_running(
            stack, "campaign-doomed-batch-1", seconds=40, after=run_id
        )
        await stack.client.get_workflow_handle("campaign-doomed-batch-1", run_id=run_id).terminate()
    result = await asyncio.wait_for(handle.result(), 60)
    rows = report(stack, "doomed")
    written = await writes_per_sim(stack.emulator)

    assert result.phase == CampaignPhase.COMPLETED
    assert result.counts["failed"] == 10
    assert all("batch workflow failed 3 times" in row["message"] for row in rows)
    # What the campaign did to each SIM before the batch died is still in the report.
    assert [int(row["writes"]) for row in rows] == [written.get(row["sim_sid"], 0) for row in rows]
    assert {row["before_status"] for row in rows} == {"new"}


async def test_a_campaign_without_a_store_fails_once_with_the_reason(
    campaign_stack: LocalStack,
) -> None:
    stack = campaign_stack
    handle = await stack.client.start_workflow(
        CampaignWorkflow.run,
        CampaignRunInput(spec=spec("no-store", CampaignAction.ACTIVATE, fleet="default")),
        id="campaign-no-store",
        task_queue=stack.settings.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), 60)
    assert "no campaign no-store" in str(failure.value.cause.__cause__)


async def test_status_has_one_shape_while_running_and_once_ended(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    handle = await start_activation(stack, tmp_path, "shape", 20)
    await handle.signal(CampaignWorkflow.pause)
    for _ in range(200):
        running = await campaign_progress(stack.settings, handle, WorkflowExecutionStatus.RUNNING)
        if running.phase == CampaignPhase.PAUSED:
            break
        await asyncio.sleep(0.05)
    await handle.signal(CampaignWorkflow.resume)
    await asyncio.wait_for(handle.result(), 60)
    ended = await campaign_progress(stack.settings, handle, WorkflowExecutionStatus.COMPLETED)

    assert running.phase == CampaignPhase.PAUSED
    assert set(running.model_dump()) == set(ended.model_dump())
    assert running.total_rows == ended.total_rows == 20
    assert ended.ended_rows == 20 and ended.counts == {"converged": 20}
    assert ended.phase == CampaignPhase.COMPLETED and ended.finished_at is not None


def test_batch_time_limits_follow_the_rate() -> None:
    # Without a rate, only concurrency paces: the default limit holds.
    assert batch_step_timeout(1000, 16, None) is None
    # A fast rate keeps the floor of ten minutes.
    assert batch_step_timeout(1000, 16, 10_000.0) == 600.0
    # At 1 request/s, 1,000 rows sharing the rate with 15 other batches need hours, not 10 min.
    limit = batch_step_timeout(1000, 16, 1.0)
    assert limit is not None and limit >= 1000 * 16 * 4


async def test_progress_moves_as_sims_end_within_one_batch(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    # One batch of 120 SIMs whose updates resolve over three seconds: progress must not wait
    # for the batch to end.
    emulator = await emulator_factory(seed_sims=120, scheduled_delay=(0.2, 3.0))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        source = await new_sims_file(stack, tmp_path, 120)
        campaign = spec(
            "smooth", CampaignAction.ACTIVATE, fleet=emulator.parent.fleets[0], batch_size=1000
        )
        handle = await start_campaign(stack.client, stack.settings, campaign, source)
        seen: list[int] = []
        for _ in range(400):
            status = (await handle.describe()).status
            if status != WorkflowExecutionStatus.RUNNING:
                break
            progress = await campaign_progress(stack.settings, handle, status)
            seen.append(progress.ended_rows)
            await asyncio.sleep(0.1)
        await asyncio.wait_for(handle.result(), 60)

    within = sorted({ended for ended in seen if 0 < ended < 120})
    assert len(within) >= 3, f"ended_rows seen while running: {seen}"


async def test_cancel_ends_a_campaign_whose_sims_stay_scheduled(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    # Every update stays scheduled: without a cancel the batch would wait a day for them.
    await set_faults(stack.emulator, stuck_rate=1.0)
    handle = await start_activation(stack, tmp_path, "stuck", 10, callback_wait_seconds=1.0)
    await wait_until_running(stack, "campaign-stuck-batch-1")
    await wait_for_writes(stack, 10)
    await handle.signal(CampaignWorkflow.cancel, "change freeze")
    result = await asyncio.wait_for(handle.result(), 30)
    rows = report(stack, "stuck")

    assert result.phase == CampaignPhase.CANCELLED
    assert [(row["outcome"], row["writes"]) for row in rows] == [("failed", "1")] * 10
    assert all("still scheduled" in row["message"] for row in rows)


async def test_a_worker_closes_the_store_of_a_campaign_that_ended(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=20, scheduled_delay=(0.05, 0.1))
    async with campaign_test_stack(dev_env, emulator, tmp_path, store_idle_seconds=0.2) as stack:
        first = await start_activation(stack, tmp_path, "ends-first", 10)
        assert (await first.result()).phase == CampaignPhase.COMPLETED
        assert "store-ends-first" in store_threads(), "the store thread was never seen"
        await asyncio.sleep(0.5)
        second = await start_activation(stack, tmp_path, "ends-second", 10)
        assert (await second.result()).phase == CampaignPhase.COMPLETED
        threads = store_threads()

    # The second campaign's activities ran after the first's store sat idle: it was closed.
    assert "store-ends-first" not in threads, threads
    assert "store-ends-second" in threads, threads


def store_threads() -> set[str]:
    """The campaign stores' threads alive in this process (named `store-<campaign>_<n>`)."""
    return {
        thread.name.rsplit("_", 1)[0]
        for thread in threading.enumerate()
        if thread.name.startswith("store-")
    }
