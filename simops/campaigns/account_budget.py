"""This process's part of an account's API budget, shared with every other process through the
store's account tables.

The API limits requests per account, so every campaign, migration and one-SIM operation simops
runs on an account draws from one budget (`simops accounts set-limit`, or
`SIMOPS_ACCOUNT_RATE` for accounts without one). Each process:

- paces each campaign it runs batch activities for with the campaign's own `RateBudget`, sized to
  the process's part of the campaign's share; a campaign's share of the account follows its
  `--weight` (`simops.core.fair_share`), capped by its own `--rate` and `--concurrency`;
- paces all its requests on the account together with the process-wide budget (the one every
  client of the account in the process shares), sized to the sum of its parts; one-SIM
  operations wait in it ahead of every campaign request, and claim a part of their own first;
- renews its leases every `RENEW_SECONDS` while anything draws, and whenever an activity starts
  or ends, and re-divides from everybody's leases. A campaign that starts, pauses or ends
  therefore moves the shares within a second; a process that dies gives its part back once its
  leases are `LEASE_SECONDS` old.

Each lease says how much its party could use: a party that had requests waiting could use more;
one that did not used what it used, and the division gives what it leaves to the others, so the
budget is used while anybody has work. Without an account budget, each campaign gets its own
`--rate` and `--concurrency`, as before accounts had budgets, divided between its processes.

A process learns of another's new lease at its next renewal: for up to `RENEW_SECONDS` the
account may run above its budget by the newcomer's part, which the client's adaptive limiter
absorbs should the API object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType

from simops.campaigns.store.accounts import ONE_SIM_PARTY, AccountLimit, AccountStore, Lease
from simops.campaigns.store.database import DATABASE_ERRORS
from simops.core.fair_share import UNLIMITED_RATE, Claim, Share, divide, split
from simops.observability import metrics
from simops.runtime.settings import SimopsSettings
from simops.supersim.pacing import (
    BudgetSlot,
    CombinedBudget,
    RateBudget,
    RequestBudget,
    SlotLease,
)

log = logging.getLogger(__name__)

RENEW_SECONDS = 0.5
"""How often a process renews its leases and re-divides while anything draws."""
LEASE_SECONDS = 5.0
"""A lease not renewed for this long belongs to a process that is gone."""
ONE_SIM_PRIORITY = -1
"""One-SIM requests wait ahead of every campaign request (whose priorities are row numbers)."""
ONE_SIM_RESERVE = 0.1
"""The part of the account's rate a process's one-SIM operations claim first, at least
`ONE_SIM_MIN_RATE`: a one-SIM operation sends a handful of requests, one after the other."""
ONE_SIM_MIN_RATE = 2.0
SATURATED = 0.85
"""A party that used this much of its rate since the last renewal could use more."""


@dataclass
class _Party:
    """One party drawing in this process: a campaign (with its own budget), or the one-SIM
    operations (paced by the process budget alone).

    What it could use is judged over windows of at least `RENEW_SECONDS` (renewals at every
    activity's start and end come closer together than that); until its first window ends, a
    party could use anything."""

    budget: RateBudget | None
    weight: float
    rate_cap: float | None
    concurrency_cap: int | None
    running: int = 0
    sent: int = 0
    window_started: float = field(default_factory=time.monotonic)
    sent_before: int = 0
    demand: float | None = None
    share: Share | None = None

    def lease(self, holder: str, party: str, one_sim_rate: float) -> Lease:
        """The lease that says what this party draws, and how much it could use."""
        if self.budget is None:
            demand: float | None = max(one_sim_rate, 2 * self._used(force=True))
        else:
            demand = self._campaign_demand(self.budget)
        return Lease(
            holder, party, self.weight, self.rate_cap, self.concurrency_cap, self.running, demand
        )

    def _used(self, *, force: bool = False) -> float:
        """Requests per second sent in the window now ending (-1.0: the window goes on)."""
        now = time.monotonic()
        elapsed = now - self.window_started
        if elapsed < RENEW_SECONDS and not force:
            return -1.0
        sent = self.sent if self.budget is None else self.budget.stats().granted
        used = (sent - self.sent_before) / elapsed if elapsed > 0 else 0.0
        self.window_started, self.sent_before = now, sent
        return used

    def _campaign_demand(self, budget: RateBudget) -> float | None:
        used = self._used()
        if used < 0:
            return self.demand
        if _could_use_more(budget, used):
            self.demand = None
        else:
            # Headroom, so that a party picking up speed is not held to what it just used.
            self.demand = used * 1.5 + 1.0
        return self.demand


def _could_use_more(budget: RateBudget, used: float) -> bool:
    stats = budget.stats()
    return (
        stats.waiting > 0
        or stats.in_flight >= budget.max_concurrency
        or used >= SATURATED * budget.max_rps
    )


def one_sim_key(holder: str) -> str:
    """The key of a process's one-SIM claim in a division (a NUL never names a campaign)."""
    return f"\0{holder}"


@dataclass(frozen=True)
class AccountDefaults:
    """The budget of accounts that `simops accounts set-limit` gave none (`None`: no budget)."""

    rate: float | None
    concurrency: int | None

    @classmethod
    def from_settings(cls, settings: SimopsSettings) -> AccountDefaults:
        """`SIMOPS_ACCOUNT_RATE` and `SIMOPS_ACCOUNT_CONCURRENCY`."""
        return cls(settings.account_rate, settings.account_concurrency)

    def limit_of(self, account: str, stored: AccountLimit | None) -> AccountLimit | None:
        """The account's budget: the one set for it, else this default, else none."""
        if stored is not None or self.rate is None:
            return stored
        return AccountLimit(account, self.rate, self.concurrency)


@dataclass
class _Division:
    """The last division of the account: its limit, and every party's whole share."""

    limit: AccountLimit | None = None
    shares: dict[str, Share] = field(default_factory=dict)


class AccountBudget:
    """This process's part of one account's budget (see the module doc)."""

    def __init__(
        self,
        open_store: Callable[[], AccountStore],
        account: str,
        holder: str,
        process_budget: RateBudget,
        defaults: AccountDefaults,
    ) -> None:
        self._open_store = open_store
        self._store: AccountStore | None = None
        self.account = account
        self._holder = holder
        self._process_budget = process_budget
        self._process_limits = (process_budget.max_concurrency, process_budget.max_rps)
        self._defaults = defaults
        self._parties: dict[str, _Party] = {}
        self._renewing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.division = _Division()
        self._published: set[str] = set()

    async def accounts(self) -> AccountStore:
        """The store's account tables (opened on first use, off the event loop)."""
        if self._store is None:
            self._store = await asyncio.to_thread(self._open_store)
        return self._store

    def close(self) -> None:
        """Close the account store (leases left behind expire by themselves)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def share_of(self, party: str) -> Share | None:
        """The party's whole share of the account (every process's parts), as last divided."""
        return self.division.shares.get(party)

    def part_of(self, party: str) -> Share | None:
        """This process's part of the party's share, as last divided."""
        drawing = self._parties.get(party)
        return drawing.share if drawing is not None else None

    def campaign_budget(
        self, campaign_id: str, *, weight: float, rate: float | None, concurrency: int
    ) -> RateBudget:
        """The campaign's budget in this process (created on first use, with the campaign's own
        `--rate` and `--concurrency` until the first division)."""
        party = self._parties.get(campaign_id)
        if party is None:
            party = self._parties[campaign_id] = _Party(
                RateBudget(concurrency, rate or UNLIMITED_RATE), weight, rate, concurrency
            )
        assert party.budget is not None
        return party.budget

    @asynccontextmanager
    async def campaign(
        self,
        campaign_id: str,
        *,
        weight: float,
        rate: float | None,
        concurrency: int,
        priority: int,
    ) -> AsyncIterator[RequestBudget]:
        """Count one running activity of the campaign for the body, and pace its requests with
        the campaign's part and then the process's; lower `priority` numbers go first."""
        budget = self.campaign_budget(
            campaign_id, weight=weight, rate=rate, concurrency=concurrency
        )
        async with self._drawing(self._parties[campaign_id]):
            yield CombinedBudget(
                [budget.prioritized(priority), self._process_budget.prioritized(priority)]
            )

    def one_sim(self) -> RequestBudget:
        """The budget of one-SIM operations: each request claims the process's one-SIM part (a
        lease, for the duration of the request) and waits ahead of every campaign request."""
        return _OneSimBudget(self)

    def _one_sim_party(self) -> _Party:
        party = self._parties.get(ONE_SIM_PARTY)
        if party is None:
            party = self._parties[ONE_SIM_PARTY] = _Party(None, 1.0, None, None)
        return party

    @asynccontextmanager
    async def _drawing(self, party: _Party) -> AsyncIterator[None]:
        party.running += 1
        await self._try_renew()
        if self._renewing is None:
            self._renewing = asyncio.create_task(self._renew_while_drawing())
        try:
            yield
        finally:
            party.running -= 1
            await self._try_renew()
            if not any(drawing.running for drawing in self._parties.values()):
                await self._stop_renewing()

    async def _stop_renewing(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None

    async def renew(self) -> None:
        """Renew this process's leases and resize its budgets to its parts."""
        async with self._lock:
            store = await self.accounts()
            known = self.division.limit
            one_sim = self._parties.get(ONE_SIM_PARTY)
            if known is None and one_sim is not None and one_sim.running:
                # Not divided yet, the process does not know the account's budget: a one-SIM
                # claim of an unlimited rate, served first, would take all of it from the others.
                stored = await store.run(store.limit, self.account)
                known = self._defaults.limit_of(self.account, stored)
            one_sim_rate = self._one_sim_rate(known)
            leases = [
                party.lease(self._holder, key, one_sim_rate)
                for key, party in self._parties.items()
                if party.running
            ]
            limit, live = await store.run(
                store.renew, self.account, self._holder, leases, lease_seconds=LEASE_SECONDS
            )
            self._resize(self._defaults.limit_of(self.account, limit), live)

    def _one_sim_rate(self, limit: AccountLimit | None) -> float:
        if limit is None:
            return UNLIMITED_RATE
        return max(ONE_SIM_MIN_RATE, ONE_SIM_RESERVE * limit.rate)

    def _resize(self, limit: AccountLimit | None, live: list[Lease]) -> None:
        shares = account_shares(limit, live)
        self.division = _Division(limit, shares)
        self._publish(shares)
        own_rate = 0.0
        own_concurrency = 0
        for key, party in self._parties.items():
            if not party.running:
                continue
            if party.budget is None:
                part = shares.get(one_sim_key(self._holder))
            else:
                running = {lease.holder: lease.running for lease in live if lease.party == key}
                running[self._holder] = party.running
                part = split(shares[key], running)[self._holder] if key in shares else None
                if part is not None:
                    party.budget.resize(part.concurrency, part.rate)
            party.share = part
            if part is not None:
                own_rate += part.rate
                own_concurrency += part.concurrency
        if limit is None:
            self._process_budget.resize(*self._process_limits)
        elif own_rate:
            self._process_budget.resize(max(1, own_concurrency), own_rate)

    def _publish(self, shares: dict[str, Share]) -> None:
        drawing = {
            key
            for key, party in self._parties.items()
            if party.running and party.budget is not None and key in shares
        }
        for campaign_id in self._published - drawing:
            metrics.forget_campaign_share(self.account, campaign_id)
        for campaign_id in drawing:
            share = shares[campaign_id]
            weight = self._parties[campaign_id].weight
            metrics.record_campaign_share(
                self.account, campaign_id, share.rate, share.concurrency, weight
            )
        self._published = drawing

    async def _try_renew(self) -> None:
        try:
            await self.renew()
        except DATABASE_ERRORS as error:
            # The budgets keep their last size and requests go on: pacing must not fail work.
            log.warning("account %s: budget leases not renewed: %s", self.account, error)

    async def _renew_while_drawing(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self._try_renew()


def account_shares(limit: AccountLimit | None, live: list[Lease]) -> dict[str, Share]:
    """Every party's whole share of an account, from the live leases of every process: what each
    process computes for itself, and what status pages show. A campaign's key is its ID; each
    process's one-SIM operations are a claim of their own (`one_sim_key`)."""
    claims: dict[str, Claim] = {}
    for lease in live:
        key = lease.party if lease.party != ONE_SIM_PARTY else one_sim_key(lease.holder)
        earlier = claims.get(key)
        demand = lease.demand_rate
        if earlier is not None:
            demand = (
                None
                if earlier.demand_rate is None or demand is None
                else earlier.demand_rate + demand
            )
        claims[key] = Claim(
            key=key,
            weight=lease.weight,
            rate_cap=lease.rate_cap,
            concurrency_cap=lease.concurrency_cap,
            demand_rate=demand,
            first=lease.party == ONE_SIM_PARTY,
        )
    if limit is None:
        return divide(None, None, claims.values())
    return divide(limit.rate, limit.concurrency, claims.values())


class _OneSimLease:
    __slots__ = ("_account", "_drawing", "_slot")

    def __init__(self, account: AccountBudget) -> None:
        self._account = account
        self._drawing: contextlib.AbstractAsyncContextManager[None] | None = None
        self._slot: SlotLease | None = None

    async def __aenter__(self) -> BudgetSlot:
        account = self._account
        party = account._one_sim_party()
        self._drawing = account._drawing(party)
        await self._drawing.__aenter__()
        try:
            self._slot = account._process_budget.prioritized(ONE_SIM_PRIORITY).slot()
            granted = await self._slot.__aenter__()
        except BaseException:
            await self._drawing.__aexit__(None, None, None)
            raise
        party.sent += 1
        return granted

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._slot is not None:
                await self._slot.__aexit__(exc_type, exc, traceback)
        finally:
            if self._drawing is not None:
                await self._drawing.__aexit__(exc_type, exc, traceback)


class _OneSimBudget:
    """What one-SIM operations pace their requests with (see `AccountBudget.one_sim`)."""

    __slots__ = ("_account",)

    def __init__(self, account: AccountBudget) -> None:
        self._account = account

    def slot(self) -> SlotLease:
        """A lease on one request slot, ahead of campaign requests."""
        return _OneSimLease(self._account)

    def backoff(self, attempt: int) -> float:
        """The process budget's backoff."""
        return self._account._process_budget.backoff(attempt)
