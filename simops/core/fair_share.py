"""How an account's API budget is divided between the traffic that shares it.

The Super SIM API limits requests per account, so every campaign, migration and one-SIM
operation simops runs on an account draws from one budget. The division is max-min fair with
weights ("water-filling"):

- claims served first (one-SIM operations) get what they ask for, before anyone else;
- the rest is divided in proportion to the claims' weights, but a claim never gets more than it
  can use: its own cap (a campaign's `--rate`) or, when it did not use its last share, what it
  used then with some headroom. What such a claim leaves is divided again between the others,
  so the budget is used while anybody has work, and a claim that has work never starves.

Each worker process computes the same division from the same leases (see
`simops.campaigns.account_budget`); nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Claim:
    """One party's claim on the budget: a campaign (all its processes), or one process's one-SIM
    operations.

    `demand_rate` is `None` while the claim can use more than it gets (it has requests waiting);
    otherwise it is the rate the claim can use now. `first` claims are served before the weighted
    ones, up to their demand.
    """

    key: str
    weight: float = 1.0
    rate_cap: float | None = None
    concurrency_cap: int | None = None
    demand_rate: float | None = None
    first: bool = False


@dataclass(frozen=True, slots=True)
class Share:
    """What a claim may use now: requests per second and requests in flight."""

    rate: float
    concurrency: int


def _water_fill(
    total: float, claims: list[Claim], cap_of: Callable[[Claim], float]
) -> dict[str, float]:
    """Divide `total` in proportion to weight, no claim above its cap; leftover goes around."""
    given: dict[str, float] = {}
    open_claims = list(claims)
    remaining = total
    while open_claims:
        weights = sum(claim.weight for claim in open_claims)
        capped = [
            claim for claim in open_claims if cap_of(claim) <= remaining * claim.weight / weights
        ]
        if not capped:
            for claim in open_claims:
                given[claim.key] = remaining * claim.weight / weights
            break
        for claim in capped:
            given[claim.key] = cap_of(claim)
            remaining -= cap_of(claim)
            open_claims.remove(claim)
        remaining = max(0.0, remaining)
    return given


def _rate_cap(claim: Claim) -> float:
    caps = [cap for cap in (claim.rate_cap, claim.demand_rate) if cap is not None]
    return min(caps) if caps else math.inf


def _weighted_rates(total: float, claims: list[Claim]) -> dict[str, float]:
    """Water-filling by what each claim could use; then what nobody could use goes to the claims
    below their own cap all the same (a claim's demand is an estimate, its cap is not), so a
    budget is never left idle for want of an estimate."""
    given = _water_fill(total, claims, _rate_cap)
    leftover = total - sum(given.values())
    if leftover > 1e-9:
        extra = _water_fill(
            leftover, claims, lambda claim: (claim.rate_cap or math.inf) - given[claim.key]
        )
        given = {key: rate + extra.get(key, 0.0) for key, rate in given.items()}
    return given


def _concurrency_cap(claim: Claim) -> float:
    return float(claim.concurrency_cap) if claim.concurrency_cap is not None else math.inf


def divide(
    rate: float | None, concurrency: int | None, claims: Iterable[Claim]
) -> dict[str, Share]:
    """Each claim's share of an account budget of `rate` requests/s and `concurrency` requests in
    flight. Without a rate (no account budget) every claim gets its own caps, whatever it used;
    without a concurrency, every claim gets its own concurrency cap. Every claim gets at least
    one request in flight, and a rate above zero."""
    all_claims = list(claims)
    if rate is None:
        rates = {claim.key: claim.rate_cap or UNLIMITED_RATE for claim in all_claims}
    else:
        first = [claim for claim in all_claims if claim.first]
        weighted = [claim for claim in all_claims if not claim.first]
        rates = _water_fill(rate, first, _rate_cap)
        rates.update(_weighted_rates(max(0.0, rate - sum(rates.values())), weighted))
    if concurrency is None:
        slots: Mapping[str, float] = {claim.key: _concurrency_cap(claim) for claim in all_claims}
    else:
        # One-SIM operations send a request or two at a time: they share the slots like the
        # others (by weight), and are served first within their process.
        slots = _water_fill(float(concurrency), all_claims, _concurrency_cap)
    return {
        claim.key: Share(
            rate=max(rates.get(claim.key, 0.0), MIN_RATE),
            concurrency=max(1, _whole(slots.get(claim.key, 1.0))),
        )
        for claim in all_claims
    }


MIN_RATE = 0.1
"""The least rate a claim gets, even of an exhausted budget: a budget's rate must be above zero,
and a claim whose share was taken by first-served claims still creeps on."""

UNLIMITED_CONCURRENCY = 1_000_000
"""The concurrency of a share nothing limits (a budget needs a whole number)."""
UNLIMITED_RATE = 1e9
"""The rate of a share nothing limits (a budget needs a finite rate to space requests)."""


def _whole(slots: float) -> int:
    return UNLIMITED_CONCURRENCY if math.isinf(slots) else int(slots)


def split(share: Share, running: Mapping[str, int]) -> dict[str, Share]:
    """A campaign's share divided between its processes in proportion to the activities each
    runs now (every process with any gets at least one slot). The slots add up to the share's:
    whole parts first, then one more for the largest remainders (ties by holder, so that every
    process computes the same split)."""
    total = sum(running.values())
    if not total:
        return {}
    exact = {
        holder: share.concurrency * count / total for holder, count in running.items() if count
    }
    slots = {holder: int(part) for holder, part in exact.items()}
    left = share.concurrency - sum(slots.values())
    for holder in sorted(exact, key=lambda holder: (slots[holder] - exact[holder], holder))[:left]:
        slots[holder] += 1
    return {
        holder: Share(
            rate=max(share.rate * running[holder] / total, MIN_RATE),
            concurrency=max(1, slots[holder]),
        )
        for holder in exact
    }
