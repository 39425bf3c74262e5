"""Moves the SIMs of a campaign batch along their paths, one round at a time (no Temporal here).

A round reads a SIM when what is known of it may be stale, asks the planner for the next call,
records the call durably (`SimJournal`) before sending it, and goes on until the SIM waits on
`scheduled` or ends. A write whose answer was lost (a crash, a 5xx, a dropped connection) stays
recorded as pending: the next round reads the SIM and counts the write as made when the SIM is
no longer what the write was planned from. So a SIM this campaign wrote is never reported
`already_converged`, and the report's `before_*` are from just before the first write.

When a path fails after a write that left the SIM less in service than it was (deactivated,
then the move refused), the stepper takes it back (`controls.restore_goal`) before the
row ends `failed`, unless the campaign opted out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NamedTuple

from simops.campaigns.controls import is_less_in_service, restore_goal, systemic_reason
from simops.campaigns.journal import SimJournal, WriteWithheld
from simops.campaigns.migration_rules import billing_period_warning, current_billing_period
from simops.campaigns.rows import BillingPeriodReading, PlannedRow, RowOutcome, TrackedSim
from simops.campaigns.store.campaign_store import CampaignStore
from simops.core.codes import RuleCode
from simops.core.sim import (
    ENABLED_STATUSES,
    OutcomeKind,
    PlanKind,
    SimSnapshot,
    SimStatus,
    SimUpdate,
)
from simops.core.transitions import check_applies_to, plan
from simops.observability import metrics
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import NotFoundError, SuperSimError

MAX_STEPS_PER_ROUND = 6
"""Calls one SIM may take in one round (a move, an activation, a rename, a restoration...)."""

DEADLINE_REASON = "The SIM was still scheduled when the campaign's operation deadline passed"

ReadingRecorder = Callable[[int, BillingPeriodReading], Awaitable[None]]
"""Records a SIM's billing period durably (by row number) before the move that hides it."""


def now() -> datetime:
    """The current time, as recorded in reports."""
    return datetime.now(UTC)


class Refusal(NamedTuple):
    """The API refused a SIM's write: the SIM as it stands and the error."""

    sim: TrackedSim
    code: int | None
    message: str


async def with_recorded_periods(
    store: CampaignStore, tracked: list[TrackedSim]
) -> list[TrackedSim]:
    """The SIMs, each with the billing period recorded for it when this round does not know it.

    A round that read a period and moved the SIM, then was lost (a worker died before the
    activity returned), recorded the period first: its retry finds it here.
    """
    unknown = [sim.row_no for sim in tracked if sim.billing_period is None]
    recorded = await store.run(store.billing_periods, unknown) if unknown else {}
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


def _deactivates(update: SimUpdate, observed: SimSnapshot) -> bool:
    return update.status == SimStatus.INACTIVE and observed.status in ENABLED_STATUSES


def _back_in_service(sim: TrackedSim, observed: SimSnapshot) -> TrackedSim:
    """The SIM with its time out of service closed once it is seen enabled again."""
    if sim.out_of_service_since is None or observed.status not in ENABLED_STATUSES:
        return sim
    return sim.model_copy(
        update={
            "out_of_service_since": None,
            "out_of_service_seconds": _out_of_service_seconds(sim, now()),
        }
    )


def _settled_after_scheduled(sim: TrackedSim, read: SimSnapshot) -> TrackedSim:
    """The SIM with its time in `scheduled` closed (and published) once it is read settled."""
    if sim.scheduled_since is None or read.status == SimStatus.SCHEDULED:
        return sim
    metrics.SCHEDULED_SECONDS.observe((now() - sim.scheduled_since).total_seconds())
    return sim.model_copy(update={"scheduled_since": None})


def _out_of_service_seconds(sim: TrackedSim, until: datetime) -> float | None:
    seconds = sim.out_of_service_seconds
    if sim.out_of_service_since is not None:
        seconds = (seconds or 0.0) + (until - sim.out_of_service_since).total_seconds()
    return seconds


def _made(
    sim: TrackedSim, update: SimUpdate, planned_from: SimSnapshot, sent_at: datetime
) -> TrackedSim:
    """The SIM once its write `update` (planned from `planned_from`) is known to have been made."""
    made: dict[str, object] = {"pending_write": None, "writes": sim.writes + 1}
    if _deactivates(update, planned_from) and sim.out_of_service_since is None:
        made["out_of_service_since"] = sent_at
    return sim.model_copy(update=made)


class BatchStepper:
    """Moves the SIMs of one round along their plans until each waits on `scheduled` or ends.

    With `record_reading` (a migration), the billing period of a SIM that was ready or active
    is read and recorded before the call that moves it: once moved, the period belongs to the
    old account and the new one cannot see it.
    """

    def __init__(
        self,
        client: SuperSimClient,
        callback_url: str | None,
        journal: SimJournal,
        *,
        final: bool,
        compensate: bool,
        record_reading: ReadingRecorder | None = None,
    ) -> None:
        self._client = client
        self._callback_url = callback_url
        self._journal = journal
        self._final = final
        self._compensate = compensate
        self._record_reading = record_reading
        self._read_again: set[str] = set()
        self._held: set[str] = set()

    @property
    def held(self) -> frozenset[str]:
        """SIMs this round did not start because the campaign is on hold (paused, outside its
        windows): untouched, they wait for the hold to end."""
        return frozenset(self._held)

    @property
    def read_again(self) -> frozenset[str]:
        """SIMs this round left in progress because of a transient error (a write's answer lost,
        a read failed, the SIM busy with someone else's update): no callback of this campaign
        may come for them, so they are worth reading again soon rather than at the next poll."""
        return frozenset(self._read_again)

    async def advance_all(
        self, sims: list[TrackedSim], *, fresh: bool, lanes: int
    ) -> list[TrackedSim | RowOutcome]:
        """`advance` for each SIM, at most `lanes` at a time, taken in order; what became of
        each, in the order given.

        A SIM beyond the campaign's concurrency could only wait for a request slot, and each
        waiting SIM holds a task and its coroutine frames: a window of 16 batches of 1,000
        SIMs, all started at once, held about 180 MiB of the worker's memory that way.

        A SIM whose round raises ends the round: the other lanes are cancelled, and have ended,
        before the error is raised (as itself). Lanes left running would go on writing SIMs
        after the activity failed, while its retry starts on the same rows.
        """
        results: dict[int, TrackedSim | RowOutcome] = {}
        indexes = iter(range(len(sims)))

        async def lane() -> None:
            # Every lane draws from the one iterator: each SIM is taken once, in order.
            for index in indexes:
                results[index] = await self.advance(sims[index], fresh=fresh)

        try:
            async with asyncio.TaskGroup() as round_lanes:
                for _ in range(min(lanes, len(sims))):
                    round_lanes.create_task(lane())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [results[index] for index in range(len(sims))]

    async def advance(self, sim: TrackedSim, *, fresh: bool) -> TrackedSim | RowOutcome:
        """One round for one SIM, recorded in the journal as it goes; what became of it."""
        result = await self._advance(sim, fresh=fresh)
        if isinstance(result, RowOutcome):
            self._journal.ended(result)
        return result

    async def _advance(self, sim: TrackedSim, *, fresh: bool) -> TrackedSim | RowOutcome:
        if _untouched(sim):
            stop_reason = self._journal.stop_reason
            if stop_reason is not None:
                return not_started(sim, stop_reason)
            hold_reason = self._journal.hold_reason
            if hold_reason is not None:
                if self._final:
                    return not_started(sim, f"{hold_reason} until the operation deadline")
                self._held.add(sim.sim_sid)
                return sim
        if sim.started_at is None:
            sim = sim.model_copy(update={"started_at": now()})
        observed = sim.observed or sim.before
        if fresh or observed is None or sim.pending_write is not None:
            read = await self._read(sim)
            if not isinstance(read, SimSnapshot):
                return read
            if sim.pending_write is not None:
                sim = settle_pending_write(sim, read)
            sim = _settled_after_scheduled(sim, read)
            observed = read
        for _ in range(MAX_STEPS_PER_ROUND):
            if sim.observed is not observed:
                # `_apply` hands back the SIM already holding what it observed: no second copy.
                sim = sim.model_copy(update={"observed": observed})
            sim = _back_in_service(sim, observed)
            if observed.status == SimStatus.SCHEDULED:
                if self._final:
                    return self._give_up(sim, DEADLINE_REASON)
                return sim
            next_step = await self._step(sim, observed)
            if isinstance(next_step, RowOutcome | TrackedSim):
                # Ended, or waits for the next round as it now stands.
                return next_step
            if isinstance(next_step, Refusal):
                failed = self._fail(next_step.sim, next_step.code, next_step.message)
                if isinstance(failed, RowOutcome):
                    return failed
                sim = failed
                continue
            sim, observed = next_step
        return sim

    async def _step(
        self, sim: TrackedSim, observed: SimSnapshot
    ) -> tuple[TrackedSim, SimSnapshot] | Refusal | RowOutcome | TrackedSim:
        """Plan and apply the SIM's next call: the SIM and what it became, a refusal, its end,
        or the SIM alone when it must wait for the next round."""
        state = observed.state()
        goal = sim.restore or sim.desired
        if sim.restore is None:
            violation = check_applies_to(state, sim.desired, sim.from_statuses)
            if violation is not None:
                return Refusal(sim, int(violation.code), violation.message)
        step = plan(state, goal)
        if step.kind == PlanKind.DONE:
            return self._done(sim)
        if step.kind == PlanKind.IMPOSSIBLE:
            return Refusal(sim, step.code, step.reason or "impossible")
        if step.update is None or self._final:
            return self._give_up(sim, DEADLINE_REASON)
        update = step.update.model_copy(update={"callback_url": self._callback_url})
        if (
            self._record_reading is not None
            and sim.billing_period is None
            and _moves_enabled_sim(sim, observed, update)
        ):
            sim = await self._read_billing_period(sim)
            if sim.billing_period is None:
                return sim
        return await self._apply(sim, update, observed)

    def _done(self, sim: TrackedSim) -> RowOutcome:
        if sim.restore is not None:
            restored_to = sim.observed.status.value if sim.observed else "its earlier status"
            message = _join(sim.failure_message, f"restored: {restored_to} again")
            return ended(sim, OutcomeKind.FAILED, sim.failure_code, message, restored=True)
        kind = OutcomeKind.CONVERGED if sim.writes else OutcomeKind.ALREADY_CONVERGED
        return ended(sim, kind)

    def _fail(self, sim: TrackedSim, code: int | None, message: str) -> TrackedSim | RowOutcome:
        """End the SIM `failed`, or first take it back to service when its path left it out."""
        if sim.restore is not None:
            return _not_restored(sim, message)
        if not _left_out_of_service(sim) or sim.before is None:
            return ended(sim, OutcomeKind.FAILED, code, message)
        if not self._compensate:
            note = "not restored: compensation is off (--no-compensate)"
            return ended(sim, OutcomeKind.FAILED, code, _join(message, note), restored=False)
        if self._final:
            note = "not restored: the operation deadline passed"
            return ended(sim, OutcomeKind.FAILED, code, _join(message, note), restored=False)
        return sim.model_copy(
            update={
                "restore": restore_goal(sim.before),
                "failure_code": code,
                "failure_message": message,
            }
        )

    def _give_up(self, sim: TrackedSim, message: str) -> RowOutcome:
        if sim.restore is not None:
            return _not_restored(sim, message)
        out = _left_out_of_service(sim)
        return ended(sim, OutcomeKind.FAILED, message=message, restored=False if out else None)

    async def _read(self, sim: TrackedSim) -> SimSnapshot | TrackedSim | RowOutcome:
        try:
            return SimSnapshot.of(await self._client.fetch_sim(sim.sim_sid))
        except NotFoundError as error:
            return ended(sim, OutcomeKind.FAILED, error.code, error.message)
        except SuperSimError as error:
            if error.retryable:
                self._read_again.add(sim.sim_sid)
                return sim
            self._stop_if_systemic(sim, error, None, None)
            return ended(sim, OutcomeKind.FAILED, error.code, error.message)

    async def _read_billing_period(self, sim: TrackedSim) -> TrackedSim:
        """The SIM with its current billing period, recorded; without it after a transient
        error (the next round tries again)."""
        try:
            periods = await self._client.list_billing_periods(sim.sim_sid)
        except SuperSimError as error:
            if error.retryable:
                self._read_again.add(sim.sim_sid)
                return sim
            # The period is a detail of the report: a SIM whose period cannot be read still
            # moves, and the report says why the period is missing.
            reading = BillingPeriodReading()
            note = f"billing period not read before the move: {error.message}"
            sim = sim.model_copy(update={"note": _join(sim.note, note)})
        else:
            reading = current_billing_period(periods, now())
        if self._record_reading is not None:
            await self._record_reading(sim.row_no, reading)
        return sim.model_copy(update={"billing_period": reading})

    def _stop_if_systemic(
        self,
        sim: TrackedSim,
        error: SuperSimError,
        update: SimUpdate | None,
        observed: SimSnapshot | None,
    ) -> None:
        reason = systemic_reason(
            error.code, error.http_status, error.message, update=update, observed=observed
        )
        if reason is not None:
            self._journal.stop(reason, sim.row_no)

    async def _apply(
        self, sim: TrackedSim, update: SimUpdate, observed: SimSnapshot
    ) -> tuple[TrackedSim, SimSnapshot] | TrackedSim | Refusal | RowOutcome:
        first = _untouched(sim)
        intent = sim.model_copy(
            update={
                "pending_write": update,
                "attempts": sim.attempts + 1,
                # The report's `before_*`: the SIM as it was just before the first write.
                **({"before": observed} if first else {}),
            }
        )
        try:
            if first:
                async with self._journal.first_write_slot(sim.row_no):
                    result = await self._journal.send(
                        intent,
                        lambda gate: self._client.update_sim(sim.sim_sid, update, before_send=gate),
                    )
            else:
                await self._journal.intend(intent)
                result = await self._client.update_sim(sim.sim_sid, update)
        except WriteWithheld as withheld:
            if withheld.held:
                self._held.add(sim.sim_sid)
                return sim
            return not_started(sim, withheld.reason)
        except SuperSimError as error:
            if error.retryable:
                # The request may have reached the API: the next round reads the SIM.
                self._read_again.add(sim.sim_sid)
                return intent
            self._stop_if_systemic(sim, error, update, observed)
            refused = intent.model_copy(update={"pending_write": None})
            if error.code == RuleCode.SCHEDULED_CONFLICT:
                # Busy (scheduled by someone else): the next round reads it again.
                self._read_again.add(sim.sim_sid)
                return refused.model_copy(update={"observed": None})
            return Refusal(refused, error.code, error.message)
        # After any pacing wait: the request went out a round trip ago at most.
        sent_at = now()
        after = SimSnapshot.of(result.sim)
        if result.accepted_async or after != observed:
            made = _made(intent, update, observed, sent_at)
        else:
            made = intent.model_copy(update={"pending_write": None})
        scheduled_since = made.scheduled_since
        if after.status == SimStatus.SCHEDULED and scheduled_since is None:
            scheduled_since = sent_at
        # Not recorded here: the round records every SIM it leaves in progress (a commit per
        # answer costs a tenth of the worker's CPU per SIM), and until then the report counts
        # the write recorded at the gate. A crash before that leaves this write pending, which
        # the retry settles by reading the SIM.
        return made.model_copy(
            update={"observed": after, "scheduled_since": scheduled_since}
        ), after


def _left_out_of_service(sim: TrackedSim) -> bool:
    """Whether this campaign's writes left an enabled SIM inactive."""
    return (
        sim.writes > 0 and sim.observed is not None and is_less_in_service(sim.before, sim.observed)
    )


def _not_restored(sim: TrackedSim, why: str) -> RowOutcome:
    """A SIM whose compensation failed: the path's failure, and why it was not restored."""
    return ended(
        sim,
        OutcomeKind.FAILED,
        sim.failure_code,
        _join(sim.failure_message, f"not restored: {why}"),
        restored=False,
    )


def settle_pending_write(sim: TrackedSim, read: SimSnapshot) -> TrackedSim:
    """A SIM whose last write's answer was lost, once read: the write was made when the SIM is
    no longer what it was planned from, else never (and it may be sent again)."""
    pending, planned_from = sim.pending_write, sim.observed
    if pending is None:
        return sim
    if planned_from is not None and read != planned_from:
        return _made(sim, pending, planned_from, now())
    return sim.model_copy(update={"pending_write": None, "observed": read})


def _untouched(sim: TrackedSim) -> bool:
    """Whether this campaign has not written the SIM (nor may have: no write pending)."""
    return sim.writes == 0 and sim.pending_write is None and sim.restore is None


def track(row: PlannedRow) -> TrackedSim:
    """A valid prepared row as a SIM to converge."""
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


def invalid(row: PlannedRow) -> RowOutcome:
    """The outcome of a row preparation found invalid."""
    return RowOutcome(
        row_no=row.row_no,
        sim_sid=row.sim_sid,
        outcome=OutcomeKind.INVALID,
        code=row.invalid_code,
        message=row.invalid_reason,
        before=row.before,
        after=row.before,
        finished_at=now(),
    )


def not_started(sim: TrackedSim, stop_reason: str) -> RowOutcome:
    """The outcome of a SIM the campaign stopped before writing it."""
    return ended(sim, OutcomeKind.CANCELLED, message=f"not started: {stop_reason}")


def ended(
    sim: TrackedSim,
    kind: OutcomeKind,
    code: int | None = None,
    message: str | None = None,
    *,
    restored: bool | None = None,
) -> RowOutcome:
    """How a SIM ended, with what this campaign did to it."""
    moved = (
        sim.observed is not None
        and sim.before is not None
        and sim.observed.account_sid != sim.before.account_sid
    )
    finished_at = now()
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
        finished_at=finished_at,
        warning=_join(sim.note, billing_period_warning(sim.billing_period) if moved else None),
        writes=sim.writes,
        restored=restored,
        out_of_service_seconds=_out_of_service_seconds(sim, finished_at),
    )


def _join(*notes: str | None) -> str | None:
    """Notes as one report cell (`None` when there is none)."""
    return "; ".join(note for note in notes if note) or None
