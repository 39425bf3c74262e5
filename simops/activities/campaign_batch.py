"""The I/O of a campaign batch: converge many SIMs at once, under the campaign's pacing.

`start_batch` plans and applies the first call for every row of a range; `settle_batch` reads
the SIMs still in progress (after their callbacks, or as polling) and takes the next step. Both
record every SIM that ended in the campaign store as it ends, so the report is always current
and a retried activity or a re-run batch skips what already ended. One SIM's trouble never fails
the activity: a transient error leaves it in progress for the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from temporalio import activity

from simops.callbacks.urls import callback_url
from simops.campaign_pacing import CampaignPacer
from simops.campaign_store import CampaignStore
from simops.migration_rules import billing_period_warning, current_billing_period
from simops.models import (
    ENABLED_STATUSES,
    MIGRATION_ACTIONS,
    BatchStepRequest,
    BatchStepResult,
    BillingPeriodReading,
    CampaignCounts,
    CampaignRowsRequest,
    OutcomeKind,
    PlanKind,
    PlannedRow,
    RowOutcome,
    SimSnapshot,
    SimStatus,
    SimUpdate,
    TrackedSim,
)
from simops.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import NotFoundError, SuperSimError
from simops.transitions import RuleCode, check_applies_to, plan

MAX_STEPS_PER_ROUND = 4
"""Calls one SIM may take in one round (a move, then an activation, then a rename...)."""

DEADLINE_REASON = "The SIM was still scheduled when the campaign's operation deadline passed"

ReadingRecorder = Callable[[int, BillingPeriodReading], None]
"""Records a SIM's billing period durably (by row number) before the move that hides it."""


HEARTBEAT_INTERVAL_SECONDS = 2.0
"""Well inside the batch activities' heartbeat timeout, so a dead worker is noticed quickly."""


def _now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs: a worker that dies mid-batch is then
    detected within the heartbeat timeout, not the (long) start-to-close timeout."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


class CampaignBatchActivities:
    """Batch activities over one shared, paced client and the campaign stores."""

    def __init__(self, client: SuperSimClient, settings: SimopsSettings) -> None:
        self._client = client
        self._settings = settings
        self._stores: dict[str, CampaignStore] = {}
        self._pacers: dict[str, CampaignPacer] = {}
        self._worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def store(self, campaign_id: str) -> CampaignStore:
        """The campaign's store, opened once per process."""
        store = self._stores.get(campaign_id)
        if store is None:
            store = CampaignStore.open(self._settings.campaign_dir, campaign_id)
            self._stores[campaign_id] = store
        return store

    def pacer(self, campaign_id: str) -> CampaignPacer:
        """The campaign's budget in this process, shared by its running batch activities."""
        pacer = self._pacers.get(campaign_id)
        if pacer is None:
            pacer = CampaignPacer(self.store(campaign_id), self._worker_id)
            self._pacers[campaign_id] = pacer
        return pacer

    def _callback_url(self, workflow_id: str) -> str | None:
        secret = self._settings.callback_secret
        base_url = self._settings.callback_base_url
        if secret is None or not base_url:
            return None
        return callback_url(base_url, secret.get_secret_value(), workflow_id)

    @activity.defn(name="start_batch")
    async def start_batch(self, request: BatchStepRequest) -> BatchStepResult:
        """Plan and apply the first call for every row of the range that has not ended yet."""
        async with heartbeating():
            return await self._start(request)

    async def _start(self, request: BatchStepRequest) -> BatchStepResult:
        store = self.store(request.campaign_id)
        rows = store.planned_rows(request.first_row, request.row_count)
        ended_before = store.finished_rows(request.first_row, request.row_count)
        # On a retry (or a re-run after a crash) the snapshot taken when the campaign was
        # prepared is stale for the SIMs this batch already touched: read them again.
        fresh = activity.info().attempt > 1 or bool(ended_before)
        todo = [row for row in rows if row.row_no not in ended_before]
        invalid = [_invalid(row) for row in todo if row.invalid_reason is not None]
        tracked = [_track(row) for row in todo if row.invalid_reason is None]
        store.record_outcomes(invalid)
        result = await self._advance_all(request, tracked, fresh=fresh)
        result.ended[OutcomeKind.INVALID] = result.ended.get(OutcomeKind.INVALID, 0) + len(invalid)
        return result

    @activity.defn(name="settle_batch")
    async def settle_batch(self, request: BatchStepRequest) -> BatchStepResult:
        """Read every SIM still in progress and take its next step (or end it)."""
        tracked = self.store(request.campaign_id).in_progress(request.first_row, request.row_count)
        async with heartbeating():
            return await self._advance_all(request, tracked, fresh=True)

    @activity.defn(name="cancel_rows")
    async def cancel_rows(self, request: CampaignRowsRequest) -> CampaignCounts:
        """Mark every row that has not ended as cancelled; the campaign's final counts."""
        store = self.store(request.campaign_id)
        store.cancel_unfinished(request.reason or "cancelled", request.first_row)
        return CampaignCounts(counts=store.counts())

    @activity.defn(name="campaign_counts")
    async def campaign_counts(self, request: CampaignRowsRequest) -> CampaignCounts:
        """Outcome counts of the campaign's rows."""
        return CampaignCounts(counts=self.store(request.campaign_id).counts())

    async def _advance_all(
        self, request: BatchStepRequest, tracked: Iterable[TrackedSim], *, fresh: bool
    ) -> BatchStepResult:
        url = self._callback_url(request.callback_workflow_id)
        store = self.store(request.campaign_id)
        recorder: ReadingRecorder | None = None
        if store.spec.action in MIGRATION_ACTIONS:
            recorder = store.record_billing_period
            tracked = _with_recorded_periods(store, list(tracked))
        # Older batches first: their SIMs are the closest to ending.
        async with self.pacer(request.campaign_id).activity(request.first_row) as budget:
            client = self._client.with_budget(budget)
            stepper = _Stepper(client, url, final=request.final, record_reading=recorder)
            results = await asyncio.gather(*(stepper.advance(sim, fresh=fresh) for sim in tracked))
            ended = [result for result in results if isinstance(result, RowOutcome)]
            pending = [result for result in results if isinstance(result, TrackedSim)]
            store.record_round(ended, pending)
        return BatchStepResult(
            pending_sims=[sim.sim_sid for sim in pending],
            ended=dict(Counter(outcome.outcome for outcome in ended)),
        )


def _with_recorded_periods(store: CampaignStore, tracked: list[TrackedSim]) -> list[TrackedSim]:
    """The SIMs, each with the billing period recorded for it when this round does not know it.

    A round that read a period and moved the SIM, then was lost (a worker died before the
    activity returned), recorded the period first: its retry finds it here.
    """
    unknown = [sim.row_no for sim in tracked if sim.billing_period is None]
    recorded = store.billing_periods(unknown) if unknown else {}
    return [
        sim.model_copy(update={"billing_period": recorded[sim.row_no]})
        if sim.billing_period is None and sim.row_no in recorded
        else sim
        for sim in tracked
    ]


def _moves_enabled_sim(sim: TrackedSim, observed: SimSnapshot, update: SimUpdate) -> bool:
    """Whether `update` moves a SIM that was ready or active when the campaign started."""
    return (
        update.account_sid is not None
        and update.account_sid != observed.account_sid
        and sim.before is not None
        and sim.before.status in ENABLED_STATUSES
    )


class _Stepper:
    """Moves one SIM along its plan until it waits on `scheduled` or ends.

    With `record_reading` (a migration), the billing period of a SIM that was ready or active
    is read and recorded before the call that moves it: once moved, the period belongs to the
    old account and the new one cannot see it.
    """

    def __init__(
        self,
        client: SuperSimClient,
        callback_url: str | None,
        *,
        final: bool,
        record_reading: ReadingRecorder | None = None,
    ) -> None:
        self._client = client
        self._callback_url = callback_url
        self._final = final
        self._record_reading = record_reading

    async def advance(self, sim: TrackedSim, *, fresh: bool) -> TrackedSim | RowOutcome:
        """One round for one SIM: read it if asked, then plan and apply until it must wait."""
        if sim.started_at is None:
            sim = sim.model_copy(update={"started_at": _now()})
        observed = sim.observed or sim.before
        if fresh or observed is None:
            read = await self._read(sim)
            if not isinstance(read, SimSnapshot):
                return read
            observed = read
        for _ in range(MAX_STEPS_PER_ROUND):
            if sim.observed is not observed:
                # `_apply` hands back the SIM already holding what it observed: no second copy.
                sim = sim.model_copy(update={"observed": observed})
            if observed.status == SimStatus.SCHEDULED:
                if self._final:
                    return _ended(sim, OutcomeKind.FAILED, message=DEADLINE_REASON)
                return sim
            state = observed.state()
            violation = check_applies_to(state, sim.desired, sim.from_statuses)
            if violation is not None:
                return _ended(sim, OutcomeKind.FAILED, int(violation.code), violation.message)
            step = plan(state, sim.desired)
            if step.kind == PlanKind.DONE:
                kind = OutcomeKind.CONVERGED if sim.writes else OutcomeKind.ALREADY_CONVERGED
                return _ended(sim, kind)
            if step.kind == PlanKind.IMPOSSIBLE:
                return _ended(sim, OutcomeKind.FAILED, step.code, step.reason)
            if step.update is None or self._final:
                return _ended(sim, OutcomeKind.FAILED, message=DEADLINE_REASON)
            update = step.update.model_copy(update={"callback_url": self._callback_url})
            if (
                self._record_reading is not None
                and sim.billing_period is None
                and _moves_enabled_sim(sim, observed, update)
            ):
                read = await self._read_billing_period(sim)
                if read.billing_period is None:
                    return read
                sim = read
            applied = await self._apply(sim, update)
            if not isinstance(applied, tuple):
                return applied
            sim, observed = applied
        return sim

    async def _read(self, sim: TrackedSim) -> SimSnapshot | TrackedSim | RowOutcome:
        try:
            return SimSnapshot.of(await self._client.fetch_sim(sim.sim_sid))
        except NotFoundError as error:
            return _ended(sim, OutcomeKind.FAILED, error.code, error.message)
        except SuperSimError as error:
            if error.retryable:
                return sim
            return _ended(sim, OutcomeKind.FAILED, error.code, error.message)

    async def _read_billing_period(self, sim: TrackedSim) -> TrackedSim:
        """The SIM with its current billing period, recorded; without it after a transient
        error (the next round tries again)."""
        try:
            periods = await self._client.list_billing_periods(sim.sim_sid)
        except SuperSimError as error:
            if error.retryable:
                return sim
            # The period is a detail of the report: a SIM whose period cannot be read still
            # moves, and the report says why the period is missing.
            reading = BillingPeriodReading()
            note = f"billing period not read before the move: {error.message}"
            sim = sim.model_copy(update={"note": _join(sim.note, note)})
        else:
            reading = current_billing_period(periods, _now())
        if self._record_reading is not None:
            self._record_reading(sim.row_no, reading)
        return sim.model_copy(update={"billing_period": reading})

    async def _apply(
        self, sim: TrackedSim, update: SimUpdate
    ) -> tuple[TrackedSim, SimSnapshot] | TrackedSim | RowOutcome:
        attempts = sim.attempts + 1
        try:
            result = await self._client.update_sim(sim.sim_sid, update)
        except SuperSimError as error:
            if error.retryable or error.code == RuleCode.SCHEDULED_CONFLICT:
                # Busy (scheduled by someone else) or a transient failure: next round re-reads.
                return sim.model_copy(update={"attempts": attempts, "observed": None})
            failed = sim.model_copy(update={"attempts": attempts})
            return _ended(failed, OutcomeKind.FAILED, error.code, error.message)
        observed = SimSnapshot.of(result.sim)
        changed = result.accepted_async or observed != sim.observed
        applied = {"attempts": attempts, "writes": sim.writes + int(changed), "observed": observed}
        return sim.model_copy(update=applied), observed


def _track(row: PlannedRow) -> TrackedSim:
    if row.sim_sid is None or row.desired is None:
        raise ValueError(
            f"valid row {row.row_no} has no SIM or desired state: the store is corrupt"
        )
    return TrackedSim(
        row_no=row.row_no,
        sim_sid=row.sim_sid,
        desired=row.desired,
        from_statuses=row.from_statuses,
        before=row.before,
        note=row.note,
    )


def _invalid(row: PlannedRow) -> RowOutcome:
    return RowOutcome(
        row_no=row.row_no,
        sim_sid=row.sim_sid,
        outcome=OutcomeKind.INVALID,
        code=row.invalid_code,
        message=row.invalid_reason,
        before=row.before,
        after=row.before,
        finished_at=_now(),
    )


def _ended(
    sim: TrackedSim,
    kind: OutcomeKind,
    code: int | None = None,
    message: str | None = None,
) -> RowOutcome:
    moved = (
        sim.observed is not None
        and sim.before is not None
        and sim.observed.account_sid != sim.before.account_sid
    )
    return RowOutcome(
        row_no=sim.row_no,
        sim_sid=sim.sim_sid,
        outcome=kind,
        code=code,
        message=message,
        before=sim.before,
        after=sim.observed,
        attempts=sim.attempts,
        started_at=sim.started_at,
        finished_at=_now(),
        warning=_join(sim.note, billing_period_warning(sim.billing_period) if moved else None),
    )


def _join(*notes: str | None) -> str | None:
    """Notes as one report cell (`None` when there is none)."""
    return "; ".join(note for note in notes if note) or None
