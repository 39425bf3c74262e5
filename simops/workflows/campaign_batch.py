"""One batch of a campaign: converge a range of input rows together, as one workflow.

The batch applies every SIM's first call at once (an activity issuing them concurrently), then,
as soon as some SIMs left `scheduled` call back (coalesced by the ingress into a few signals),
reads those back and takes their next steps: a SIM never waits for the rest of its batch, so a
deactivated SIM moves and comes back into service as early as it can. Callbacks that arrive
while a round runs are taken by the next one. Rounds without callbacks are the polling fallback
(every SIM in progress), with backoff, until every SIM ended or the deadline passed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from simops.activities.campaign_batch import CampaignBatchActivities
    from simops.contract import (
        CALLBACK_SIGNAL,
        CAMPAIGN_BATCH_WORKFLOW,
        PENDING_QUERY,
        RELEASE_HELD_SIGNAL,
        WIND_DOWN_SIGNAL,
    )
    from simops.core.sim import OutcomeKind
    from simops.messages import BatchInput, BatchStepRequest, BatchStepResult, BatchSummary
    from simops.sim_messages import SimCallbackBatch
    from simops.workflows.waiting import wait_until

BATCH_ACTIVITY_TIMEOUT = timedelta(minutes=10)
BATCH_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
"""A worker that dies mid-batch loses its activity after this long, and another retries it."""
BATCH_ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
)
MOST_CALLBACKS = 0.9
"""Once this share of the SIMs in progress has called back, wait only briefly for the rest."""
STRAGGLER_WAIT = timedelta(seconds=5)
FIRST_POLL_INTERVAL = timedelta(seconds=2)
LONGEST_POLL_INTERVAL = timedelta(minutes=5)
EAGER_SETTLE = "settle-sims-as-they-call-back"
"""Patch: settle the SIMs that called back at once, not once most of the batch did (batches
started before it keep the old rounds on replay)."""
READ_AGAIN_SOON = "read-again-sims-a-transient-error-hid"
"""Patch: SIMs a transient error left unseen (a write's answer lost, say) are read again after
`FIRST_POLL_INTERVAL`, doubling while errors last, not at the next poll (the callback wait):
no callback may come for a write that never reached the API."""


@workflow.defn(name=CAMPAIGN_BATCH_WORKFLOW)
class CampaignBatchWorkflow:
    """Converges the rows `first_row`..`first_row + row_count - 1` of a campaign (only those
    of `row_nos` when given: the canary's)."""

    @workflow.init
    def __init__(self, batch: BatchInput) -> None:
        self._batch = batch
        self._pending: set[str] = set()
        self._called: set[str] = set()
        self._read_again: set[str] = set()
        self._held: set[str] = set()
        self._seen_tokens: set[str] = set()
        self._ended: Counter[OutcomeKind] = Counter()
        self._stop_reason: str | None = None
        self._deadline = workflow.now() + timedelta(seconds=batch.deadline_seconds)
        self._deadline_moved = False

    @workflow.signal(name=WIND_DOWN_SIGNAL)
    def wind_down(self) -> None:
        """The campaign was cancelled: give the SIMs on their way one callback wait to settle
        (and be compensated), then end the rest as the deadline would."""
        grace = workflow.now() + timedelta(seconds=self._batch.callback_wait_seconds)
        if grace < self._deadline:
            self._deadline = grace
            self._deadline_moved = True
        # SIMs held back before their first write end at once (`not started`).
        self._called.update(self._held)

    @workflow.signal(name=RELEASE_HELD_SIGNAL)
    def release_held(self) -> None:
        """The campaign's hold ended (resumed, a window opened): start the SIMs it held back."""
        self._called.update(self._held)

    @workflow.signal(name=CALLBACK_SIGNAL)
    def sim_callbacks(self, callbacks: SimCallbackBatch) -> None:
        """Callbacks for SIMs of this batch: each marks its SIM as worth reading now."""
        for callback in callbacks.callbacks:
            token = callback.idempotency_token
            if token is not None:
                if token in self._seen_tokens:
                    continue
                self._seen_tokens.add(token)
            # Kept even before the SIM is known to be in progress: a callback can beat the
            # result of the activity that sent its update.
            self._called.add(callback.sim_sid)

    @workflow.query(name=PENDING_QUERY)
    def pending(self) -> int:
        """How many SIMs of the batch are still in progress."""
        return len(self._pending)

    @workflow.run
    async def run(self, batch: BatchInput) -> BatchSummary:
        """Start every row, then settle the SIMs in progress until all ended."""
        self._take(await self._run_step(CampaignBatchActivities.start_batch, self._request()))
        if workflow.patched(EAGER_SETTLE):
            await self._settle_as_called(read_again_soon=workflow.patched(READ_AGAIN_SOON))
        else:
            await self._settle_in_rounds(self._deadline)
        return BatchSummary(
            batch_no=batch.batch_no, counts=dict(self._ended), stop_reason=self._stop_reason
        )

    async def _settle_as_called(self, *, read_again_soon: bool) -> None:
        callback_wait = timedelta(seconds=self._batch.callback_wait_seconds)
        next_poll = workflow.now() + callback_wait
        poll_interval = FIRST_POLL_INTERVAL
        read_again_interval = FIRST_POLL_INTERVAL
        read_again_at: datetime | None = None
        while self._pending:
            if workflow.now() >= self._deadline:
                self._called.clear()
                self._take(await self._settle(self._request(final=True)))
                break
            wake = min(next_poll, self._deadline)
            if read_again_soon and self._read_again & self._pending:
                if read_again_at is None:
                    read_again_at = workflow.now() + read_again_interval
                wake = min(wake, read_again_at)
            else:
                read_again_interval, read_again_at = FIRST_POLL_INTERVAL, None
            self._deadline_moved = False
            await wait_until(
                lambda: self._any_called() or self._deadline_moved, wake - workflow.now()
            )
            due = set[str]()
            if read_again_at is not None and workflow.now() >= read_again_at:
                due, read_again_at = self._read_again & self._pending, None
            sims = sorted(due | {sim for sim in self._pending if sim in self._called})
            if sims:
                self._called.difference_update(sims)
                self._take(await self._settle(self._request(sim_sids=sims)), settled=sims)
                if due:
                    # Back off only while every SIM read again met an error again (the API
                    # failing, not a few unlucky requests).
                    unseen_again = due <= self._read_again
                    read_again_interval = (
                        min(read_again_interval * 2, callback_wait)
                        if unseen_again
                        else FIRST_POLL_INTERVAL
                    )
            elif workflow.now() >= next_poll and workflow.now() < self._deadline:
                self._called.clear()
                self._take(await self._settle(self._request()))
                next_poll = workflow.now() + poll_interval
                poll_interval = min(poll_interval * 2, LONGEST_POLL_INTERVAL)

    async def _settle_in_rounds(self, deadline: datetime) -> None:
        """The rounds of batches started before `EAGER_SETTLE`: wait for most callbacks."""
        await self._wait_for_callbacks(deadline)
        poll_interval = FIRST_POLL_INTERVAL
        while self._pending:
            final = workflow.now() >= deadline
            self._called.clear()
            self._take(await self._settle(self._request(final=final)))
            if not self._pending:
                break
            remaining = deadline - workflow.now()
            await wait_until(
                self._all_called,
                min(poll_interval, remaining),
            )
            poll_interval = min(poll_interval * 2, LONGEST_POLL_INTERVAL)

    async def _settle(self, request: BatchStepRequest) -> BatchStepResult:
        return await self._run_step(CampaignBatchActivities.settle_batch, request)

    async def _run_step(
        self,
        activity: Callable[[CampaignBatchActivities, BatchStepRequest], Awaitable[BatchStepResult]],
        request: BatchStepRequest,
    ) -> BatchStepResult:
        return await workflow.execute_activity_method(
            activity,
            request,
            start_to_close_timeout=self._activity_timeout(),
            heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT,
            retry_policy=BATCH_ACTIVITY_RETRY,
        )

    def _activity_timeout(self) -> timedelta:
        seconds = self._batch.step_timeout_seconds
        return BATCH_ACTIVITY_TIMEOUT if seconds is None else timedelta(seconds=seconds)

    async def _wait_for_callbacks(self, deadline: datetime) -> None:
        if not self._pending:
            return
        wait = min(timedelta(seconds=self._batch.callback_wait_seconds), deadline - workflow.now())
        most = await wait_until(
            lambda: self._called_count() >= MOST_CALLBACKS * len(self._pending),
            wait,
        )
        if most:
            await wait_until(self._all_called, STRAGGLER_WAIT)

    def _called_count(self) -> int:
        return sum(1 for sim_sid in self._pending if sim_sid in self._called)

    def _all_called(self) -> bool:
        return self._called_count() == len(self._pending)

    def _any_called(self) -> bool:
        return any(sim_sid in self._called for sim_sid in self._pending)

    def _take(self, result: BatchStepResult, settled: list[str] | None = None) -> None:
        """Count what ended; the SIMs in progress are those the step returned, plus, when it
        settled only `settled`, the others it did not look at."""
        self._ended.update(result.ended)
        still = set(result.pending_sims)
        self._pending = still if settled is None else (self._pending - set(settled)) | still
        unseen = set(result.read_again_sims)
        self._read_again = unseen if settled is None else (self._read_again - set(settled)) | unseen
        held = set(result.held_sims)
        self._held = held if settled is None else (self._held - set(settled)) | held
        self._stop_reason = self._stop_reason or result.stop_reason

    def _request(
        self, *, final: bool = False, sim_sids: list[str] | None = None
    ) -> BatchStepRequest:
        return BatchStepRequest(
            campaign_id=self._batch.campaign_id,
            callback_workflow_id=workflow.info().workflow_id,
            first_row=self._batch.first_row,
            row_count=self._batch.row_count,
            final=final,
            sim_sids=sim_sids,
            campaign_workflow_id=parent.workflow_id if (parent := workflow.info().parent) else None,
            row_nos=self._batch.row_nos,
        )
