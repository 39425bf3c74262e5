"""One batch of a campaign: converge a range of input rows together, as one workflow.

The batch applies every SIM's first call at once (an activity issuing them concurrently), then
waits for the callbacks of the SIMs left `scheduled` (coalesced by the ingress into a few
signals), reads them back, and takes their next steps, round after round until every SIM ended
or the deadline passed. Rounds without callbacks are the polling fallback, with backoff.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from simops.activities.campaign_batch import CampaignBatchActivities
    from simops.models import (
        BatchInput,
        BatchStepRequest,
        BatchStepResult,
        BatchSummary,
        OutcomeKind,
        SimCallbackBatch,
    )
    from simops.workflows.signals import CALLBACK_SIGNAL
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


@workflow.defn(name="CampaignBatch")
class CampaignBatchWorkflow:
    """Converges the rows `first_row`..`first_row + row_count - 1` of a campaign."""

    @workflow.init
    def __init__(self, batch: BatchInput) -> None:
        self._batch = batch
        self._pending: set[str] = set()
        self._called: set[str] = set()
        self._seen_tokens: set[str] = set()
        self._ended: Counter[OutcomeKind] = Counter()

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

    @workflow.query(name="pending")
    def pending(self) -> int:
        """How many SIMs of the batch are still in progress."""
        return len(self._pending)

    @workflow.run
    async def run(self, batch: BatchInput) -> BatchSummary:
        """Start every row, then settle the SIMs in progress until all ended."""
        deadline = workflow.now() + timedelta(seconds=batch.deadline_seconds)
        self._take(
            await workflow.execute_activity_method(
                CampaignBatchActivities.start_batch,
                self._request(),
                start_to_close_timeout=BATCH_ACTIVITY_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT,
                retry_policy=BATCH_ACTIVITY_RETRY,
            )
        )
        await self._wait_for_callbacks(deadline)
        poll_interval = FIRST_POLL_INTERVAL
        while self._pending:
            final = workflow.now() >= deadline
            self._called.clear()
            self._take(
                await workflow.execute_activity_method(
                    CampaignBatchActivities.settle_batch,
                    self._request(final=final),
                    start_to_close_timeout=BATCH_ACTIVITY_TIMEOUT,
                    heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT,
                    retry_policy=BATCH_ACTIVITY_RETRY,
                )
            )
            if not self._pending:
                break
            remaining = deadline - workflow.now()
            await wait_until(
                self._all_called,
                min(poll_interval, remaining),
            )
            poll_interval = min(poll_interval * 2, LONGEST_POLL_INTERVAL)
        return BatchSummary(batch_no=batch.batch_no, counts=dict(self._ended))

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

    def _take(self, result: BatchStepResult) -> None:
        self._ended.update(result.ended)
        self._pending = set(result.pending_sims)

    def _request(self, *, final: bool = False) -> BatchStepRequest:
        return BatchStepRequest(
            campaign_id=self._batch.campaign_id,
            callback_workflow_id=workflow.info().workflow_id,
            first_row=self._batch.first_row,
            row_count=self._batch.row_count,
            final=final,
        )
