"""How Sims move through their lifecycle in the emulator, on top of `simops.core.transitions`.

`evaluate_update` decides whether an update is legal and what it does; this module resolves the
parameters that need the store (Fleet, destination account, unique name), applies the effect,
completes asynchronous updates when their timer fires, sends the callback, and runs what the
network does on its own: ready to active after 250 KB, 5 SMS Commands or three months, and
one-month billing periods that keep the account they started in.

A period that ends while its Sim is still enabled is followed by the next one. That renewal is
made when the Sim next changes or its periods are read (`renew_periods`), not by a timer per
period: a million active Sims would hold a million timers for it. Between two changes of a Sim
its status is fixed, and each change first renews the periods that ended before the moment it
was due, so the periods come out as a timer at each period's end would have made them.
"""

from __future__ import annotations

import calendar
import random
from datetime import UTC, datetime

from simops.core.codes import RuleCode
from simops.core.sim import ENABLED_STATUSES, NO_FLEET, CallbackMethod, SimStatus, SimUpdate
from simops.core.transitions import RuleViolation, evaluate_update
from simops.emulator.callbacks import CallbackDispatcher, CallbackEvent
from simops.emulator.clock import EmulatorClock
from simops.emulator.errors import ApiError, invalid_parameter
from simops.emulator.faults import Faults
from simops.emulator.ids import IdFactory
from simops.emulator.state import AccountRecord, PendingUpdate, SimRecord, Store
from simops.emulator.stats import Stats
from simops.emulator.timers import Timers
from simops.supersim.resources import BillingPeriodType

READY_DATA_LIMIT_BYTES = 250 * 1024
"""Data after which a `ready` Sim turns `active` (250 KB, binary kilobytes)."""
READY_SMS_LIMIT = 5
"""SMS Commands after which a `ready` Sim turns `active`."""
READY_MONTHS = 3
"""Months after which a `ready` Sim turns `active`."""
STUCK_SECONDS = 3600.0
"""How long a Sim hit by the `stuck_rate` fault stays `scheduled` (emulator clock)."""


def add_months(timestamp: float, months: int) -> float:
    """The same day and time `months` calendar months later (clamped to the month's end)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day).timestamp()


class Lifecycle:
    """Applies updates to Sims and runs their timed behaviour."""

    def __init__(
        self,
        store: Store,
        clock: EmulatorClock,
        timers: Timers,
        dispatcher: CallbackDispatcher,
        faults: Faults,
        stats: Stats,
        ids: IdFactory,
        rng: random.Random,
        scheduled_delay: tuple[float, float],
    ) -> None:
        self._store = store
        self._clock = clock
        self._timers = timers
        self._dispatcher = dispatcher
        self._faults = faults
        self._stats = stats
        self._ids = ids
        self._rng = rng
        self._delay = scheduled_delay
        self.pending_total = 0

    def update(self, requester: AccountRecord, sim: SimRecord, request: SimUpdate) -> int:
        """Apply one update request (syntax-checked, its Fleet and account not yet resolved);
        the HTTP status (200 or 202) or an `ApiError`."""
        destination = self._destination(requester, sim, request.account_sid)
        fleet_param = self._resolve_fleet(destination, request.fleet)
        self._check_unique_name(destination, sim, request.unique_name)
        now = self._clock.now()
        self.renew_periods(sim, now)
        update = SimUpdate(
            status=request.status,
            fleet=fleet_param,
            account_sid=request.account_sid,
            unique_name=request.unique_name,
        )
        pending = sim.pending
        verdict = evaluate_update(
            sim.state(),
            update,
            scheduled_target=pending.final if pending is not None else None,
            inactive_move_allowed=requester.inactive_move_beta,
        )
        if isinstance(verdict, RuleViolation):
            raise ApiError(verdict.http_status, verdict.code, verdict.message)
        from_status = sim.status
        if verdict.changed:
            self._store.apply_state(sim, verdict.immediate, now)
            self._stats.record_write(
                sim,
                from_status.value,
                status=request.status.value if request.status else None,
                account_sid=request.account_sid,
                fleet=request.fleet,
                unique_name=request.unique_name,
            )
        if verdict.final is None:
            if verdict.immediate.status != from_status:
                self._entered(sim, verdict.immediate.status, now)
            return 200
        if pending is not None:
            pending.final = verdict.final
            return 200
        stuck = self._faults.roll(self._faults.settings.stuck_rate)
        delay = STUCK_SECONDS if stuck else self._rng.uniform(*self._delay)
        method = request.callback_method or CallbackMethod.POST
        sim.pending = PendingUpdate(
            sim_sid=sim.sid,
            final=verdict.final,
            from_status=from_status,
            due=now + delay,
            callback_url=request.callback_url,
            callback_method=method.value,
        )
        self._schedule(sim.pending)
        return 202

    def _schedule(self, pending: PendingUpdate) -> None:
        """Set the timer that completes `pending` (also used when state is reloaded)."""
        self.pending_total += 1
        self._timers.at(pending.due, self._complete, pending)

    def _destination(
        self, requester: AccountRecord, sim: SimRecord, account_sid: str | None
    ) -> AccountRecord:
        if account_sid is None or account_sid == sim.account_sid:
            return self._store.accounts[sim.account_sid]
        destination = self._store.accounts.get(account_sid)
        if destination is None or not self._store.can_see(requester, account_sid):
            raise invalid_parameter(
                "AccountSid",
                f"{account_sid[:40]} is neither the requesting account nor one of its child "
                "accounts",
            )
        return destination

    def _resolve_fleet(self, destination: AccountRecord, fleet: str | None) -> str | None:
        if fleet is None or fleet == NO_FLEET:
            return fleet
        found = self._store.find_fleet(destination, fleet)
        if found is None:
            raise ApiError(
                400,
                RuleCode.FLEET_NOT_FOUND,
                f"Fleet {fleet[:64]} was not found in account {destination.sid}",
            )
        return found.sid

    def _check_unique_name(
        self, destination: AccountRecord, sim: SimRecord, unique_name: str | None
    ) -> None:
        name = sim.unique_name if unique_name is None else unique_name
        if not name:
            return
        holder = destination.sim_names.get(name)
        if holder is not None and holder is not sim:
            raise ApiError(
                400,
                RuleCode.DUPLICATE_UNIQUE_NAME,
                f"Another Sim of account {destination.sid} already has the unique name {name[:64]}",
            )

    async def _complete(self, pending: PendingUpdate) -> None:
        sim = self._store.sims.get(pending.sim_sid)
        if sim is None or sim.pending is not pending:
            return
        self.pending_total -= 1
        now = self._clock.now()
        self.renew_periods(sim, pending.due)
        sim.pending = None
        self._store.apply_state(sim, pending.final, now)
        if pending.final.status != pending.from_status:
            self._entered(sim, pending.final.status, now)
        self._check_ready_thresholds(sim, now)
        if pending.callback_url:
            await self._dispatcher.submit(self._callback_event(sim, pending))

    def _callback_event(self, sim: SimRecord, pending: PendingUpdate) -> CallbackEvent:
        account = self._store.accounts[sim.account_sid]
        assert pending.callback_url is not None
        return CallbackEvent(
            url=pending.callback_url,
            method=pending.callback_method,
            params=[
                ("SimSid", sim.sid),
                ("SimUniqueName", sim.unique_name or ""),
                ("SimStatus", sim.status.value),
                ("AccountSid", sim.account_sid),
            ],
            webhook_secret=account.webhook_secret,
            auth_token=account.auth_token,
            idempotency_token=self._ids.token(),
        )

    def _entered(self, sim: SimRecord, status: SimStatus, at: float) -> None:
        sim.ready_since = at if status == SimStatus.READY else None
        periods = self._store.periods
        if status == SimStatus.READY:
            self._start_period(sim, BillingPeriodType.READY, at)
            self._timers.at(add_months(at, READY_MONTHS), self._ready_deadline, sim.sid)
        elif status == SimStatus.ACTIVE:
            current = periods.latest(sim)
            running = current is not None and periods.end(current) > at
            if (
                current is not None
                and running
                and periods.period_type(current) == BillingPeriodType.READY
            ):
                periods.cut_short(current, at)
                running = False
            if not running:
                self._start_period(sim, BillingPeriodType.ACTIVE, at)
        self._store.touch(sim)

    def _start_period(self, sim: SimRecord, period_type: BillingPeriodType, start: float) -> None:
        periods = self._store.periods
        if periods.latest(sim) is None:
            self._store.settings_updates.add(sim, start)
        periods.start(sim, period_type, start, add_months(start, 1))

    def renew_periods(self, sim: SimRecord, until: float, *, ending_at_until: bool = True) -> None:
        """Start the periods that followed `sim`'s latest one, up to `until`, while it was
        enabled (before the Sim changes, up to when the change was due; before its periods are
        read, up to now). `ending_at_until=False` leaves a period that ends exactly at `until`
        for later: the change due then came first."""
        periods = self._store.periods
        latest = periods.latest(sim)
        while latest is not None and (
            periods.end(latest) < until or (ending_at_until and periods.end(latest) == until)
        ):
            status = sim.effective_status()
            if status not in ENABLED_STATUSES:
                return
            period_type = (
                BillingPeriodType.READY if status == SimStatus.READY else BillingPeriodType.ACTIVE
            )
            self._start_period(sim, period_type, periods.end(latest))
            self._store.touch(sim)
            latest = periods.latest(sim)

    def restore(self) -> None:
        """Set the timers of Sims reloaded from a state file (pending updates complete)."""
        for sim in self._store.sims.values():
            if sim.pending is not None:
                self._schedule(sim.pending)
            if sim.ready_since is not None:
                deadline = add_months(sim.ready_since, READY_MONTHS)
                self._timers.at(deadline, self._ready_deadline, sim.sid)

    def _ready_deadline(self, sim_sid: str) -> None:
        sim = self._store.sims.get(sim_sid)
        if sim is not None:
            now = self._clock.now()
            if sim.ready_since is not None:
                deadline = add_months(sim.ready_since, READY_MONTHS)
                # The deadline was set with the first ready period, before any period that
                # ends with it: as a timer of its own it came first.
                self.renew_periods(sim, min(deadline, now), ending_at_until=deadline > now)
            self._check_ready_thresholds(sim, now)

    def _check_ready_thresholds(self, sim: SimRecord, now: float) -> None:
        if sim.status != SimStatus.READY or sim.ready_since is None:
            return
        deadline = add_months(sim.ready_since, READY_MONTHS)
        if (
            sim.data_bytes >= READY_DATA_LIMIT_BYTES
            or sim.sms_count >= READY_SMS_LIMIT
            or deadline <= now
        ):
            at = min(deadline, now)
            activated = sim.state().model_copy(update={"status": SimStatus.ACTIVE})
            self._store.apply_state(sim, activated, at)
            self._entered(sim, SimStatus.ACTIVE, at)

    def record_usage(self, sim: SimRecord, byte_count: int) -> None:
        """Count data used by a connected Sim (ready turns active past 250 KB)."""
        sim.data_bytes += byte_count
        self._store.touch(sim)
        now = self._clock.now()
        self.renew_periods(sim, now)
        self._check_ready_thresholds(sim, now)

    def record_sms(self, sim: SimRecord) -> None:
        """Count an SMS Command to a connected Sim (ready turns active at the fifth)."""
        sim.sms_count += 1
        self._store.touch(sim)
        now = self._clock.now()
        self.renew_periods(sim, now)
        self._check_ready_thresholds(sim, now)
