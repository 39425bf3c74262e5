"""A campaign: converge every SIM of a file or a filter, in batches, with controls and a report.

The campaign prepares its rows (import, resolve, validate: an activity writing to the campaign
store), then runs a sliding window of batch workflows over row ranges. The full list of SIMs is
never in a workflow input or history: batches name row ranges and the store holds the rows and
their outcomes. Pause stops new batches, cancel stops them for good (running batches settle and
report), a failure threshold and a canary stop new writes by themselves. Continue-as-new keeps
the history short whatever the campaign's size.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy

with workflow.unsafe.imports_passed_through():
    from simops.activities.campaign_batch import CampaignBatchActivities
    from simops.activities.campaign_prepare import CampaignPrepareActivities
    from simops.models import (
        BatchInput,
        BatchSummary,
        CampaignPhase,
        CampaignProgress,
        CampaignResult,
        CampaignRowsRequest,
        CampaignRunInput,
        CampaignState,
        OutcomeKind,
        PrepareRequest,
    )
    from simops.workflows.campaign_batch import CampaignBatchWorkflow

MAX_WINDOW = 16
"""Batches in flight at once: while some wait for `scheduled` to resolve, others write."""
MIN_REQUESTS_PER_BATCH = 5
"""No more batches in flight than the campaign's concurrency over this: each running batch
activity gets a few of the campaign's concurrent requests (`campaign_pacing.py` shares them)."""
PREPARE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
)
BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


def campaign_workflow_id(campaign_id: str) -> str:
    """The workflow ID of a campaign: starting the same ID twice starts one campaign."""
    return f"campaign-{campaign_id}"


@workflow.defn(name="Campaign")
class CampaignWorkflow:
    """Runs one campaign from preparation to the last row's outcome."""

    @workflow.init
    def __init__(self, run_input: CampaignRunInput) -> None:
        self._spec = run_input.spec
        self._state = run_input.state or CampaignState()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._launched_this_run = 0
        self._preparing = self._state.total_rows is None

    @workflow.signal
    def pause(self) -> None:
        """Start no new batch until `resume`; running batches finish."""
        self._state.paused = True

    @workflow.signal
    def resume(self) -> None:
        """Start batches again after `pause`."""
        self._state.paused = False

    @workflow.signal
    def cancel(self, reason: str) -> None:
        """Start no new batch; running batches settle; the rest is reported cancelled."""
        self._state.cancel_reason = reason or "cancelled by the operator"

    @workflow.query
    def progress(self) -> CampaignProgress:
        """Counts per outcome, rate and time left."""
        counts = self._state.counts
        ended = sum(counts.values())
        started_at = self._state.started_at
        rate: float | None = None
        eta: float | None = None
        if started_at is not None and ended:
            elapsed = (workflow.now() - started_at).total_seconds()
            rate = ended / elapsed if elapsed > 0 else None
            if rate and self._state.total_rows is not None:
                eta = max(self._state.total_rows - ended, 0) / rate
        return CampaignProgress(
            campaign_id=self._spec.campaign_id,
            action=self._spec.action,
            phase=self._phase(),
            total_rows=self._state.total_rows,
            ended_rows=ended,
            counts=dict(counts),
            batches_in_flight=len(self._in_flight),
            rows_per_second=rate,
            eta_seconds=eta,
            started_at=started_at,
            stop_reason=self._state.stop_reason or self._state.cancel_reason,
        )

    @workflow.run
    async def run(self, run_input: CampaignRunInput) -> CampaignResult:
        """Prepare, run the batches, and account for every row."""
        state = self._state
        if state.started_at is None:
            state.started_at = workflow.now()
        if state.total_rows is None:
            prepared = await workflow.execute_activity_method(
                CampaignPrepareActivities.prepare_campaign,
                PrepareRequest(campaign_id=self._spec.campaign_id),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=PREPARE_RETRY,
            )
            state.total_rows = prepared.rows
            self._preparing = False
        while True:
            self._launch()
            if not self._in_flight:
                if self._launch_allowed():
                    continue
                if state.paused and not self._stopping():
                    await workflow.wait_condition(lambda: not state.paused or self._stopping())
                    continue
                if (
                    self._launched_this_run >= self._spec.batches_per_run
                    and self._rows_left()
                    and not self._stopping()
                ):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(CampaignRunInput(spec=self._spec, state=state))
                break
            await self._await_batch_or_room()
        return await self._finish()

    async def _await_batch_or_room(self) -> None:
        in_flight = len(self._in_flight)
        await workflow.wait_condition(
            lambda: len(self._in_flight) < in_flight or self._launch_allowed()
        )

    def _phase(self) -> CampaignPhase:
        if self._preparing:
            return CampaignPhase.PREPARING
        if self._stopping():
            return CampaignPhase.STOPPING
        if self._state.paused:
            return CampaignPhase.PAUSED
        return CampaignPhase.RUNNING

    def _stopping(self) -> bool:
        return self._state.cancel_reason is not None or self._state.stop_reason is not None

    def _rows_left(self) -> bool:
        total = self._state.total_rows or 0
        return self._state.next_row <= total

    def _window(self) -> int:
        return max(1, min(MAX_WINDOW, self._spec.concurrency // MIN_REQUESTS_PER_BATCH))

    def _in_canary(self) -> bool:
        return self._spec.canary > 0 and not self._state.canary_done

    def _launch_allowed(self) -> bool:
        if self._stopping() or self._state.paused or not self._rows_left():
            return False
        if self._launched_this_run >= self._spec.batches_per_run:
            return False
        if self._in_canary():
            return not self._in_flight
        return len(self._in_flight) < self._window()

    def _launch(self) -> None:
        while self._launch_allowed():
            state = self._state
            total = state.total_rows or 0
            size = self._spec.canary if self._in_canary() else self._spec.batch_size
            row_count = min(size, total - state.next_row + 1)
            batch = BatchInput(
                campaign_id=self._spec.campaign_id,
                batch_no=state.next_batch_no,
                first_row=state.next_row,
                row_count=row_count,
                callback_wait_seconds=self._spec.callback_wait_seconds,
                deadline_seconds=self._spec.deadline_seconds,
            )
            state.next_row += row_count
            state.next_batch_no += 1
            self._launched_this_run += 1
            self._in_flight[batch.batch_no] = asyncio.create_task(self._run_batch(batch))

    async def _run_batch(self, batch: BatchInput) -> None:
        summary: BatchSummary = await workflow.execute_child_workflow(
            CampaignBatchWorkflow.run,
            batch,
            id=f"{campaign_workflow_id(batch.campaign_id)}-batch-{batch.batch_no}",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        for outcome, count in summary.counts.items():
            self._state.counts[outcome] = self._state.counts.get(outcome, 0) + count
        if self._in_canary():
            self._judge_canary(summary)
        self._check_failure_threshold()
        del self._in_flight[batch.batch_no]

    def _judge_canary(self, summary: BatchSummary) -> None:
        failed = summary.counts.get(OutcomeKind.FAILED, 0)
        if failed:
            self._state.stop_reason = (
                f"canary: {failed} of the first {self._spec.canary} SIMs failed; "
                "no other SIM was changed"
            )
        self._state.canary_done = True

    def _check_failure_threshold(self) -> None:
        threshold = self._failure_threshold()
        failed = self._state.counts.get(OutcomeKind.FAILED, 0)
        if threshold is not None and failed >= threshold and self._state.stop_reason is None:
            self._state.stop_reason = (
                f"{failed} SIMs failed, reaching the failure threshold of {threshold}: "
                "no new writes"
            )

    def _failure_threshold(self) -> int | None:
        spec = self._spec
        if spec.max_failures is not None:
            return max(spec.max_failures, 1)
        if spec.max_failure_ratio is not None:
            return max(1, math.ceil(spec.max_failure_ratio * (self._state.total_rows or 0)))
        return None

    async def _finish(self) -> CampaignResult:
        state = self._state
        request = CampaignRowsRequest(
            campaign_id=self._spec.campaign_id,
            first_row=state.next_row,
            reason=state.cancel_reason or state.stop_reason,
        )
        activity = (
            CampaignBatchActivities.cancel_rows
            if self._stopping()
            else CampaignBatchActivities.campaign_counts
        )
        counts = await workflow.execute_activity_method(
            activity,
            request,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=BOOKKEEPING_RETRY,
        )
        if state.cancel_reason is not None:
            phase = CampaignPhase.CANCELLED
        elif state.stop_reason is not None:
            phase = CampaignPhase.STOPPED
        else:
            phase = CampaignPhase.COMPLETED
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CampaignResult(
            campaign_id=self._spec.campaign_id,
            phase=phase,
            counts=counts.counts,
            stop_reason=state.stop_reason or state.cancel_reason,
            started_at=state.started_at,
            finished_at=workflow.now(),
        )
