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
import contextlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
)
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from simops.activities.campaign_batch import STORE_UNUSABLE, CampaignBatchActivities
    from simops.activities.campaign_prepare import CampaignPrepareActivities
    from simops.activities.campaign_slots import CampaignSlotActivities
    from simops.activities.notifications import NotificationActivities
    from simops.campaigns.rows import CampaignPhase
    from simops.campaigns.schedule import next_window_at
    from simops.contract import (
        CAMPAIGN_SLOT_FREED_SIGNAL,
        CAMPAIGN_STOPPED_SIGNAL,
        CAMPAIGN_WORKFLOW,
        CANCEL_SIGNAL,
        PAUSE_SIGNAL,
        PROGRESS_QUERY,
        RESUME_SIGNAL,
        batch_workflow_id,
        notifier_workflow_id,
    )
    from simops.core.sim import OutcomeKind
    from simops.messages import (
        BatchInput,
        BatchSummary,
        CampaignProgress,
        CampaignResult,
        CampaignRowsRequest,
        CampaignRunInput,
        CampaignSlotRequest,
        CampaignState,
        CampaignStopNotice,
        NotifierInput,
        NotifyTargetsRequest,
        PrepareRequest,
        ScanProgress,
    )
    from simops.notifications.events import (
        CampaignEvent,
        canary_passed_event,
        ended_event,
        phase_changed_event,
        rows_added_event,
        started_event,
    )
    from simops.workflows.campaign_batch import CampaignBatchWorkflow
    from simops.workflows.campaign_gauges import record_campaign_gauges
    from simops.workflows.campaign_notifier import CampaignNotifierWorkflow
    from simops.workflows.waiting import wait_until

MAX_WINDOW = 16
"""Batches in flight at once: while some wait for `scheduled` to resolve, others write."""
MIN_REQUESTS_PER_BATCH = 5
"""No more batches in flight than the campaign's concurrency over this: each running batch
activity gets a few of the campaign's concurrent requests (`campaigns/shared_budget.py` shares
them)."""
PREPARE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
)
BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
BATCH_ATTEMPTS = 3
"""How often a row range runs as a batch workflow before its unfinished rows end `failed`."""
REQUESTS_PER_SIM_STEP = 4
"""Requests one SIM may need in one batch activity (read, billing period, writes): with the
campaign's rate, what sizes an activity's time limit so that pacing never times it out."""
MIN_STEP_TIMEOUT = timedelta(minutes=10)
BATCH_RERUN_DELAY = timedelta(seconds=20)
"""Longer than a batch activity's heartbeat timeout (15 s), after which a worker that lost its
workflow has stopped writing."""
HOLD_AT_THE_SEND = "hold-first-writes-at-the-send"
"""Patch: a pause holds first writes inside running batches too (recorded in the store, which
every first write checks immediately before it is sent), and a resume releases them."""
PAUSED_REASON = "paused by the operator"
WAITING_REASON = "outside its schedule"
END_REASON = "end time reached"
"""The stop reason at `--end-at` (rows not started end "not started: end time reached")."""
HANDLE_FAILED_BATCHES = "handle-failed-batches"
"""Patch: a failed batch child is run again, then its rows end `failed`; a cancel or a stop
reaches running batches through the store; activities' time limits follow the rate."""
BATCH_GONE = "ExternalWorkflowExecutionNotFound"
"""The failure of a signal to a batch that has ended."""
QUEUE_PER_ACCOUNT = "queue-per-account"
"""Patch: a campaign takes a place among its account's running campaigns before it prepares
(`SIMOPS_MAX_RUNNING_CAMPAIGNS`), queued in start order, and frees it when it ends."""
QUEUE_RECHECK = timedelta(seconds=30)
"""A queued campaign asks again this often, should the signal of a freed place be lost."""
CANARY_PER_PATH = "canary-per-path"
"""Patch: the canary is the first `canary` rows of every path (read from the store once
prepared), not the first `canary` rows; campaigns started before it keep theirs on replay."""
RECHECK_HOLD = "recheck-the-hold-after-recording-it"
"""Patch: after recording a hold (or its release), the run loop looks again before it launches:
a resume that arrived while the hold was being recorded is released at once, not left holding
the SIMs of the batches it launches."""
CONTINUOUS_CAMPAIGNS = "continuous-campaigns"
"""Patch: a continuous campaign (`spec.continuous`) scans its filter every `every_seconds`
between batches, appends the new SIMs as rows and runs them, and is `watching` while idle.
Only continuous campaigns ask for it: the histories of the others are unchanged."""
SCANS_PER_RUN = 100
"""Scans of a continuous campaign per workflow run: then it continues as new (about ten
history events a scan, besides its batches)."""
SCAN_TIMEOUT = timedelta(minutes=30)
SCAN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)
"""A scan the API keeps refusing is given up until the next one, not retried forever."""
NOTIFY_WEBHOOKS = "notify-webhooks"
"""Patch: a campaign started after it names its webhook receivers at its start and, when it has
any, starts its notifier and signals it every event (campaigns started before send none)."""


def batch_step_timeout(row_count: int, window: int, rate: float | None) -> float | None:
    """A batch activity's time limit in seconds (`None`: the default): long enough for its SIMs
    at the campaign's `rate` even when every batch of the window shares it, twice over. A dead
    worker is still found within the heartbeat timeout, whatever this limit."""
    if rate is None:
        return None
    needed = row_count * REQUESTS_PER_SIM_STEP * window / rate
    return max(MIN_STEP_TIMEOUT.total_seconds(), 2 * needed)


@workflow.defn(name=CAMPAIGN_WORKFLOW)
class CampaignWorkflow:
    """Runs one campaign from preparation to the last row's outcome."""

    @workflow.init
    def __init__(self, run_input: CampaignRunInput) -> None:
        self._spec = run_input.spec
        self._state = run_input.state or CampaignState()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._rows_in_flight: dict[int, int] = {}
        self._launched_this_run = 0
        self._preparing = self._state.total_rows is None
        self._stop_recorded = False
        self._wound_down = False
        self._batches: dict[int, ChildWorkflowHandle[CampaignBatchWorkflow, BatchSummary]] = {}
        self._store_unusable: str | None = None
        self._outside_schedule = False
        self._sender: asyncio.Task[None] | None = None
        self._outbox: list[CampaignEvent] = []
        """Events not yet signalled to the notifier, oldest first."""
        self._queued_behind: int | None = None
        self._slot_freed = False
        self._continuous = False
        """A continuous campaign past preparation, under the patch that scans."""
        self._scans_this_run = 0

    @workflow.signal(name=CAMPAIGN_SLOT_FREED_SIGNAL)
    def slot_freed(self) -> None:
        """A campaign of the account ended: ask again for a place among the running ones."""
        self._slot_freed = True

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self) -> None:
        """Start no new batch until `resume`; running batches finish."""
        self._state.paused = True
        self._publish_phase()

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        """Start batches again after `pause`."""
        self._state.paused = False
        self._publish_phase()

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, reason: str) -> None:
        """Start no new batch; running batches settle; the rest is reported cancelled."""
        self._state.cancel_reason = reason or "cancelled by the operator"
        self._publish_phase()

    @workflow.signal(name=CAMPAIGN_STOPPED_SIGNAL)
    def stopped(self, notice: CampaignStopNotice) -> None:
        """A batch activity found a reason to stop (systemic error, threshold, canary): show
        it at once; batches already give no SIM a first write."""
        if not self._stopping():
            self._state.stop_reason = notice.reason
            self._publish_phase()

    def _publish_phase(self) -> None:
        # At once: the run loop republishes only when a batch ends, minutes later maybe. A
        # metric is no command, so replays are unaffected.
        phase = self._phase()
        record_campaign_gauges(self._spec.campaign_id, phase, len(self._in_flight))
        state = self._state
        if state.notify_targets and state.notified_phase not in (None, phase):
            previous, state.notified_phase = state.notified_phase, phase
            reason = {
                CampaignPhase.STOPPING: state.cancel_reason or state.stop_reason,
                CampaignPhase.PAUSED: PAUSED_REASON,
                CampaignPhase.WAITING: WAITING_REASON,
            }.get(phase)
            self._notify(
                lambda event_id, campaign_id, now: phase_changed_event(
                    event_id,
                    campaign_id,
                    now,
                    phase=phase.value,
                    previous_phase=previous.value,
                    reason=reason,
                )
            )

    def _notify(self, make: Callable[[str, str, datetime], CampaignEvent]) -> None:
        """Queue an event for the notifier (only a campaign with receivers has one); the run
        loop never waits for it, the sender task signals it."""
        if self._state.notify_targets:
            event_id = f"evt_{workflow.uuid4().hex}"
            self._outbox.append(make(event_id, self._spec.campaign_id, workflow.now()))

    async def _send_events(self) -> None:
        """Signal queued events to the notifier, one at a time and in order (a signal is
        recorded by Temporal at once: no receiver is waited for)."""
        notifier = workflow.get_external_workflow_handle_for(
            CampaignNotifierWorkflow.run, notifier_workflow_id(self._spec.campaign_id)
        )
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            try:
                await notifier.signal(CampaignNotifierWorkflow.campaign_event, self._outbox[0])
            except FailureError as error:
                # The notifier was terminated: events have nowhere to go, the campaign goes on.
                workflow.logger.warning("campaign event not signalled: %s", error)
            self._outbox.pop(0)

    async def _events_signalled(self) -> None:
        """Wait until every queued event reached the notifier (before the run ends)."""
        if self._state.notify_targets:
            await workflow.wait_condition(lambda: not self._outbox)

    async def _start_notifier(self) -> None:
        """Name the campaign's webhook receivers (its own and the worker's) and, when there
        are any, start its notifier, which outlives the campaign until it delivered all."""
        state = self._state
        targets = await workflow.execute_activity_method(
            NotificationActivities.notify_targets,
            NotifyTargetsRequest(
                campaign_id=self._spec.campaign_id, campaign_urls=self._spec.notify_urls
            ),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=BOOKKEEPING_RETRY,
        )
        state.notify_targets = targets.urls
        if not targets.urls:
            return
        await workflow.start_child_workflow(
            CampaignNotifierWorkflow.run,
            NotifierInput(campaign_id=self._spec.campaign_id, targets=targets.urls),
            id=notifier_workflow_id(self._spec.campaign_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        phase = self._phase()
        state.notified_phase = phase
        self._notify(
            lambda event_id, campaign_id, now: started_event(
                event_id, campaign_id, now, action=self._spec.action.value, phase=phase.value
            )
        )

    @workflow.query(name=PROGRESS_QUERY)
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
            ramp_limit=self._ramp_limit(),
            next_window_at=next_window_at(self._spec.schedule, workflow.now()),
            queued_behind=self._queued_behind,
            continuous=self._scan_progress(),
        )

    def _scan_progress(self) -> ScanProgress | None:
        """A continuous campaign's scans (`None`: not continuous); no next scan once it stops."""
        continuous, state = self._spec.continuous, self._state
        if continuous is None:
            return None
        return ScanProgress(
            every_seconds=continuous.every_seconds,
            scans=state.scans,
            rows_added=state.rows_added,
            last_scan_at=state.last_scan_at,
            next_scan_at=None if self._stopping() else state.next_scan_at,
        )

    @workflow.run
    async def run(self, run_input: CampaignRunInput) -> CampaignResult:
        """Prepare, run the batches, and account for every row."""
        state = self._state
        fresh = state.started_at is None
        if state.started_at is None:
            state.started_at = workflow.now()
        if fresh and state.notify_targets is None and workflow.patched(NOTIFY_WEBHOOKS):
            await self._start_notifier()
        if state.notify_targets:
            self._sender = asyncio.create_task(self._send_events())
        if state.total_rows is None and workflow.patched(QUEUE_PER_ACCOUNT):
            await self._take_a_place()
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
        if self._in_canary() and state.canary_rows is None and workflow.patched(CANARY_PER_PATH):
            canary = await workflow.execute_activity_method(
                CampaignBatchActivities.canary_rows,
                CampaignRowsRequest(campaign_id=self._spec.campaign_id),
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=BOOKKEEPING_RETRY,
            )
            state.canary_rows = canary.row_nos
            # A plan whose every SIM needs no call has nothing to sample.
            state.canary_done = not canary.row_nos
        if self._spec.continuous is not None and workflow.patched(CONTINUOUS_CAMPAIGNS):
            self._continuous = True
            if state.next_scan_at is None:
                state.next_scan_at = workflow.now() + self._scan_every()
        handles_failures = workflow.patched(HANDLE_FAILED_BATCHES)
        holds_at_the_send = workflow.patched(HOLD_AT_THE_SEND)
        rechecks_hold = holds_at_the_send and workflow.patched(RECHECK_HOLD)
        while True:
            self._follow_schedule()
            await self._fail_if_store_unusable()
            if handles_failures and self._stopping() and not self._stop_recorded:
                await self._record_stop()
            if handles_failures and self._state.cancel_reason is not None and not self._wound_down:
                await self._wind_down_batches()
            if holds_at_the_send and self._hold_wanted() != state.hold_reason:
                await self._record_hold(self._hold_wanted())
                if rechecks_hold:
                    continue
            if self._scan_due():
                await self._scan()
                continue
            self._launch()
            self._publish_phase()
            if not self._in_flight:
                if self._launch_allowed():
                    continue
                if (state.paused or self._outside_schedule) and not self._stopping():
                    await self._wait_for_a_change()
                    continue
                if (
                    self._launched_this_run >= self._spec.batches_per_run
                    and self._rows_left()
                    and not self._stopping()
                ):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    await self._events_signalled()
                    workflow.continue_as_new(CampaignRunInput(spec=self._spec, state=state))
                if self._continuous and not self._stopping():
                    await self._watch()
                    continue
                break
            await self._await_batch_or_room()
        return await self._finish()

    def _scan_every(self) -> timedelta:
        continuous = self._spec.continuous
        assert continuous is not None
        return timedelta(seconds=continuous.every_seconds)

    def _run_full(self) -> bool:
        """Whether this run launched (or scanned) enough: it lets its batches end and
        continues as new, so that no history grows without bound."""
        return (
            self._launched_this_run >= self._spec.batches_per_run
            or self._scans_this_run >= SCANS_PER_RUN
        )

    def _scan_possible(self) -> bool:
        """Whether a scan may run when due: a continuous campaign that takes first writes now
        (a paused one, or one outside its windows, scans once it may write again)."""
        return (
            self._continuous
            and self._state.next_scan_at is not None
            and not self._stopping()
            and not self._state.paused
            and not self._outside_schedule
            and not self._run_full()
        )

    def _scan_due(self) -> bool:
        next_scan_at = self._state.next_scan_at
        return self._scan_possible() and next_scan_at is not None and workflow.now() >= next_scan_at

    async def _scan(self) -> None:
        """List the filter again and take the rows the scan appended (validated by the same
        preparer as every row); a `rows_added` event when there are any. A stop or a cancel
        during the scan cancels it: the rows it appended end `cancelled` with the others."""
        state = self._state
        known = state.total_rows or 0
        self._scans_this_run += 1
        scan = workflow.start_activity_method(
            CampaignPrepareActivities.scan_campaign,
            PrepareRequest(campaign_id=self._spec.campaign_id),
            start_to_close_timeout=SCAN_TIMEOUT,
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=SCAN_RETRY,
        )
        await workflow.wait_condition(lambda: scan.done() or self._stopping())
        if not scan.done():
            scan.cancel()
        try:
            result = await scan
        except (ActivityError, asyncio.CancelledError) as error:
            if isinstance(error, ActivityError) and not self._stopping():
                self._scan_failed(error)
            result = None
        now = workflow.now()
        state.scans += 1
        state.last_scan_at = now
        state.next_scan_at = now + self._scan_every()
        if result is None or result.rows <= known:
            return
        state.total_rows = result.rows
        state.rows_added += result.rows - known
        self._notify(
            lambda event_id, campaign_id, at: rows_added_event(
                event_id, campaign_id, at, first_row=known + 1, last_row=result.rows
            )
        )

    def _scan_failed(self, error: ActivityError) -> None:
        """A scan that can never succeed (the filter's Fleet gone, credentials refused, the
        store unusable) stops the campaign with the reason; one that ran out of attempts is
        tried again at the next scan."""
        reason = _failure_text(error)
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            self._state.stop_reason = f"its scan failed: {reason}"
            self._publish_phase()
        else:
            workflow.logger.warning("a scan failed, tried again at the next: %s", reason)

    async def _watch(self) -> None:
        """Every row ended: wait, `watching`, for the next scan (or a pause, a stop, the
        schedule); first continue as new when this run did enough, with the state."""
        if self._run_full() or workflow.info().is_continue_as_new_suggested():
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._events_signalled()
            workflow.continue_as_new(CampaignRunInput(spec=self._spec, state=self._state))
        paused = self._state.paused
        await self._wait(lambda: self._stopping() or self._state.paused != paused)

    async def _take_a_place(self) -> None:
        """Wait, queued, for a place among the account's running campaigns (a cancel ends the
        wait: the campaign then reports every row cancelled)."""
        while not self._state.slot_claimed and not self._stopping():
            self._slot_freed = False
            slot = await workflow.execute_activity_method(
                CampaignSlotActivities.claim_campaign_slot,
                # The server's start time, not the claim's: campaigns started one after the
                # other queue in that order, whichever claim the worker runs first.
                CampaignSlotRequest(
                    campaign_id=self._spec.campaign_id, started_at=workflow.info().start_time
                ),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=BOOKKEEPING_RETRY,
            )
            if slot.running:
                self._state.slot_claimed = True
                break
            self._queued_behind = slot.ahead
            self._publish_phase()
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(
                    lambda: self._slot_freed or self._stopping(), timeout=QUEUE_RECHECK
                )
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(CampaignRunInput(spec=self._spec, state=self._state))
        self._queued_behind = None

    async def _await_batch_or_room(self) -> None:
        in_flight = len(self._in_flight)
        stopping = self._stopping()
        hold = self._hold_wanted()
        await self._wait(
            lambda: (
                len(self._in_flight) < in_flight
                or self._launch_allowed()
                or self._stopping() != stopping
                or self._hold_wanted() != hold
            )
        )

    async def _wait_for_a_change(self) -> None:
        """Wait, with nothing running, until a pause or a stop changes or the schedule does."""
        paused = self._state.paused
        await self._wait(lambda: self._stopping() or self._state.paused != paused)

    async def _wait(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition` holds, or the schedule's next change, or a continuous
        campaign's next scan (a durable timer)."""
        schedule = self._spec.schedule
        change = schedule.next_change_at(workflow.now()) if schedule is not None else None
        next_scan_at = self._state.next_scan_at
        if self._scan_possible() and next_scan_at is not None:
            change = next_scan_at if change is None else min(change, next_scan_at)
        if change is None:
            await workflow.wait_condition(condition)
        else:
            await wait_until(condition, change - workflow.now())

    def _follow_schedule(self) -> None:
        """Whether the schedule holds first writes now; at its end, stop for good."""
        schedule = self._spec.schedule
        if schedule is None:
            return
        now = workflow.now()
        if schedule.ended(now) or schedule.next_open_at(now) is None:
            # No first write may come any more: the rows not started end `cancelled`.
            self._outside_schedule = False
            if not self._stopping():
                self._state.stop_reason = END_REASON
            return
        self._outside_schedule = not schedule.is_open(now)

    async def _fail_if_store_unusable(self) -> None:
        reason = self._store_unusable
        if reason is not None:
            self._notify(
                lambda event_id, campaign_id, now: ended_event(
                    event_id,
                    campaign_id,
                    now,
                    phase="failed",
                    counts={str(kind): count for kind, count in self._state.counts.items()},
                    reason=reason,
                )
            )
            await self._events_signalled()
            raise ApplicationError(reason, type=STORE_UNUSABLE, non_retryable=True)

    async def _record_stop(self) -> None:
        """Tell every running batch, through the store, to give no SIM a first write."""
        self._stop_recorded = True
        await workflow.execute_activity_method(
            CampaignBatchActivities.stop_campaign,
            CampaignRowsRequest(
                campaign_id=self._spec.campaign_id,
                reason=self._state.cancel_reason or self._state.stop_reason,
            ),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=BOOKKEEPING_RETRY,
        )

    def _hold_wanted(self) -> str | None:
        """Why first writes should be held now (`None`: they may go)."""
        if self._stopping():
            return None
        if self._state.paused:
            return PAUSED_REASON
        if self._outside_schedule:
            return WAITING_REASON
        return None

    async def _record_hold(self, reason: str | None) -> None:
        """Hold (or release) first writes in every running batch, through the store; released
        SIMs are started at once."""
        await workflow.execute_activity_method(
            CampaignBatchActivities.hold_campaign,
            CampaignRowsRequest(campaign_id=self._spec.campaign_id, reason=reason),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=BOOKKEEPING_RETRY,
        )
        self._state.hold_reason = reason
        if reason is None:
            await self._signal_batches(CampaignBatchWorkflow.release_held)

    async def _wind_down_batches(self) -> None:
        """A cancel ends the campaign even when SIMs stay scheduled for hours: each running
        batch gives them one callback wait, then ends them."""
        self._wound_down = True
        await self._signal_batches(CampaignBatchWorkflow.wind_down)

    async def _signal_batches(self, signal: Callable[[CampaignBatchWorkflow], None]) -> None:
        """Signal every batch still running. A batch may end between the workflow task that
        knew it ran and the signal: it needs no signal any more, and the campaign goes on."""
        for batch in list(self._batches.values()):
            try:
                await batch.signal(signal)
            except ApplicationError as error:
                if error.type != BATCH_GONE:
                    raise

    def _phase(self) -> CampaignPhase:
        if self._queued_behind is not None and not self._stopping():
            return CampaignPhase.QUEUED
        if self._preparing:
            return CampaignPhase.PREPARING
        if self._stopping():
            return CampaignPhase.STOPPING
        if self._state.paused:
            return CampaignPhase.PAUSED
        if self._outside_schedule:
            return CampaignPhase.WAITING
        if self._continuous and not self._in_flight and not self._rows_left():
            return CampaignPhase.WATCHING
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

    def _ramp_limit(self) -> int | None:
        """How many rows may be in flight under the ramp now (`None`: no ramp, or it is over)."""
        ramp = self._spec.ramp
        if ramp is None or self._state.ramp_done or self._in_canary():
            return None
        return self._state.ramp_limit or ramp.base

    def _ramp_room(self) -> int | None:
        """How many more rows may start under the ramp (`None`: as many as batches allow)."""
        limit = self._ramp_limit()
        return None if limit is None else limit - sum(self._rows_in_flight.values())

    def _advance_ramp(self, converged: int) -> None:
        """Raise the ramp's limit by its factor for each limit's worth of converged SIMs."""
        ramp, state = self._spec.ramp, self._state
        limit = self._ramp_limit()
        if ramp is None or limit is None:
            return
        state.ramp_converged += converged
        while state.ramp_converged >= limit:
            state.ramp_converged -= limit
            limit = max(limit, math.ceil(limit * ramp.factor))
            if limit >= self._spec.concurrency:
                state.ramp_done = True
                break
        state.ramp_limit = limit

    def _launch_allowed(self) -> bool:
        if self._stopping() or self._state.paused or self._outside_schedule:
            return False
        if not self._rows_left():
            return False
        if self._run_full():
            return False
        if self._in_canary():
            return not self._in_flight
        room = self._ramp_room()
        if room is not None and room <= 0:
            return False
        return len(self._in_flight) < self._window()

    def _launch(self) -> None:
        while self._launch_allowed():
            state = self._state
            total = state.total_rows or 0
            # The canary's rows are spread over the file: later batches over ranges skip them
            # once they ended, so the ranges still start at the first row.
            canary = state.canary_rows if self._in_canary() else None
            if canary:
                first_row, row_count = canary[0], canary[-1] - canary[0] + 1
            else:
                size = self._spec.canary if self._in_canary() else self._spec.batch_size
                room = self._ramp_room()
                if room is not None:
                    size = min(size, room)
                first_row, row_count = state.next_row, min(size, total - state.next_row + 1)
            batch = BatchInput(
                campaign_id=self._spec.campaign_id,
                batch_no=state.next_batch_no,
                first_row=first_row,
                row_count=row_count,
                callback_wait_seconds=self._spec.callback_wait_seconds,
                deadline_seconds=self._spec.deadline_seconds,
                step_timeout_seconds=self._step_timeout(len(canary) if canary else row_count),
                row_nos=canary,
            )
            if not canary:
                state.next_row += row_count
            state.next_batch_no += 1
            self._launched_this_run += 1
            self._rows_in_flight[batch.batch_no] = row_count
            self._in_flight[batch.batch_no] = asyncio.create_task(self._run_batch(batch))

    def _step_timeout(self, row_count: int) -> float | None:
        return batch_step_timeout(row_count, self._window(), self._spec.rate)

    async def _run_batch(self, batch: BatchInput) -> None:
        try:
            if workflow.patched(HANDLE_FAILED_BATCHES):
                summary = await self._run_batch_to_an_end(batch)
            else:
                summary = await self._run_child(batch, WorkflowIDReusePolicy.REJECT_DUPLICATE)
            for outcome, count in summary.counts.items():
                self._state.counts[outcome] = self._state.counts.get(outcome, 0) + count
            if summary.stop_reason is not None and self._state.stop_reason is None:
                self._state.stop_reason = summary.stop_reason
            if self._in_canary():
                self._state.canary_done = True
                if not self._stopping():
                    self._notify(
                        lambda event_id, campaign_id, now: canary_passed_event(
                            event_id,
                            campaign_id,
                            now,
                            counts={str(kind): count for kind, count in summary.counts.items()},
                        )
                    )
            else:
                self._advance_ramp(summary.counts.get(OutcomeKind.CONVERGED, 0))
        finally:
            del self._in_flight[batch.batch_no]
            del self._rows_in_flight[batch.batch_no]

    async def _run_child(self, batch: BatchInput, reuse: WorkflowIDReusePolicy) -> BatchSummary:
        handle = await workflow.start_child_workflow(
            CampaignBatchWorkflow.run,
            batch,
            id=batch_workflow_id(batch.campaign_id, batch.batch_no),
            id_reuse_policy=reuse,
        )
        self._batches[batch.batch_no] = handle
        try:
            return await handle
        finally:
            del self._batches[batch.batch_no]

    async def _run_batch_to_an_end(self, batch: BatchInput) -> BatchSummary:
        """Run the batch; a child that fails (terminated, timed out) runs again for the rows it
        left, and after `BATCH_ATTEMPTS` they end `failed` with the reason: nothing hangs."""
        reason = ""
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            if attempt > 1:
                # The failed run's activity may still be writing until its next heartbeat is
                # refused: the new run starts once that is surely over.
                await workflow.sleep(BATCH_RERUN_DELAY)
            try:
                # A new run under the same ID: callbacks for SIMs the failed run wrote reach it.
                return await self._run_child(
                    batch, WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                )
            except ChildWorkflowError as error:
                unusable = _store_unusable(error)
                if unusable is not None:
                    self._store_unusable = unusable
                    return BatchSummary(batch_no=batch.batch_no)
                reason = _failure_text(error)
                workflow.logger.warning(
                    "batch %s failed (attempt %s): %s", batch.batch_no, attempt, reason
                )
        await workflow.execute_activity_method(
            CampaignBatchActivities.fail_unfinished_rows,
            CampaignRowsRequest(
                campaign_id=batch.campaign_id,
                first_row=batch.first_row,
                row_count=batch.row_count,
                row_nos=batch.row_nos,
                reason=f"its batch workflow failed {BATCH_ATTEMPTS} times: {reason}",
            ),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=BOOKKEEPING_RETRY,
        )
        # The rows the failed attempts ended were never in a summary: the campaign's counts
        # are read from the store at its end, so only the running progress is short of them.
        return BatchSummary(batch_no=batch.batch_no)

    async def _finish(self) -> CampaignResult:
        state = self._state
        request = CampaignRowsRequest(
            campaign_id=self._spec.campaign_id,
            first_row=state.next_row,
            reason=f"not started: {state.cancel_reason or state.stop_reason}",
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
        await self._fail_if_store_unusable()
        if state.slot_claimed:
            await workflow.execute_activity_method(
                CampaignSlotActivities.release_campaign_slot,
                CampaignSlotRequest(campaign_id=self._spec.campaign_id),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=BOOKKEEPING_RETRY,
            )
        if state.cancel_reason is not None:
            phase = CampaignPhase.CANCELLED
        elif state.stop_reason is not None:
            phase = CampaignPhase.STOPPED
        else:
            phase = CampaignPhase.COMPLETED
        record_campaign_gauges(self._spec.campaign_id, phase, 0)
        self._notify(
            lambda event_id, campaign_id, now: ended_event(
                event_id,
                campaign_id,
                now,
                phase=phase.value,
                counts=counts.counts,
                reason=state.stop_reason or state.cancel_reason,
            )
        )
        await self._events_signalled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CampaignResult(
            campaign_id=self._spec.campaign_id,
            phase=phase,
            counts=counts.counts,
            stop_reason=state.stop_reason or state.cancel_reason,
            started_at=state.started_at,
            finished_at=workflow.now(),
            continuous=self._scan_progress(),
        )


def _failure_text(error: BaseException) -> str:
    """The innermost message of a failure chain (what actually went wrong)."""
    messages = []
    cause: BaseException | None = error
    while cause is not None:
        messages.append(str(cause))
        cause = cause.__cause__
    return next((message for message in reversed(messages) if message), "unknown failure")


def _store_unusable(error: BaseException) -> str | None:
    """The reason when a failure comes from a campaign store that cannot be used."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == STORE_UNUSABLE:
            return cause.message
        cause = cause.__cause__
    return None
