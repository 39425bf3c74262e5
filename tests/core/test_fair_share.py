"""Dividing an account's budget between the claims on it: weights, caps, what a claim can use,
first-served claims, no budget at all, concurrency, and a share split between processes."""

from __future__ import annotations

import pytest

from simops.core.fair_share import (
    MIN_RATE,
    UNLIMITED_CONCURRENCY,
    UNLIMITED_RATE,
    Claim,
    Share,
    divide,
    split,
)


def rates(shares: dict[str, Share]) -> dict[str, float]:
    return {key: share.rate for key, share in shares.items()}


def concurrencies(shares: dict[str, Share]) -> dict[str, int]:
    return {key: share.concurrency for key, share in shares.items()}


def test_weights_divide_the_budget_in_proportion() -> None:
    shares = divide(100.0, 8, [Claim("light", weight=1.0), Claim("heavy", weight=3.0)])

    assert shares == {"light": Share(25.0, 2), "heavy": Share(75.0, 6)}


def test_equal_weights_divide_equally() -> None:
    shares = divide(90.0, 9, [Claim("a"), Claim("b"), Claim("c")])

    assert shares == {"a": Share(30.0, 3), "b": Share(30.0, 3), "c": Share(30.0, 3)}


def test_a_rate_cap_below_the_share_leaves_the_rest_to_the_others() -> None:
    shares = divide(100.0, None, [Claim("capped", rate_cap=10.0), Claim("other", weight=3.0)])

    assert rates(shares) == {"capped": 10.0, "other": 90.0}
    assert sum(rates(shares).values()) == pytest.approx(100.0)


def test_a_rate_cap_above_the_share_changes_nothing() -> None:
    shares = divide(100.0, None, [Claim("capped", rate_cap=60.0), Claim("other", weight=3.0)])

    assert rates(shares) == {"capped": 25.0, "other": 75.0}


def test_a_claim_that_uses_less_than_its_share_leaves_the_rest_to_the_others() -> None:
    shares = divide(100.0, None, [Claim("backlogged"), Claim("idle", weight=3.0, demand_rate=30.0)])

    assert rates(shares) == {"backlogged": 70.0, "idle": 30.0}


def test_the_tighter_of_rate_cap_and_demand_holds() -> None:
    shares = divide(
        100.0,
        None,
        [Claim("backlogged"), Claim("both", rate_cap=20.0, demand_rate=12.0)],
    )

    assert rates(shares) == {"backlogged": 88.0, "both": 12.0}


def test_leftovers_go_around_until_every_cap_holds() -> None:
    # A fair third is 30: "small" stops at 10, then a fair half of 80 is 40, where "medium"
    # stops too, and "backlogged" takes what is left.
    shares = divide(
        90.0,
        None,
        [Claim("backlogged"), Claim("medium", rate_cap=40.0), Claim("small", demand_rate=10.0)],
    )

    assert rates(shares) == {"backlogged": 40.0, "medium": 40.0, "small": 10.0}
    assert sum(rates(shares).values()) == pytest.approx(90.0)


def test_what_nobody_could_use_goes_to_claims_below_their_own_cap() -> None:
    # A demand is an estimate, a cap is not: the budget is not left idle for an estimate.
    shares = divide(100.0, None, [Claim("a", rate_cap=10.0), Claim("b", demand_rate=20.0)])
    assert rates(shares) == {"a": 10.0, "b": 90.0}

    shares = divide(
        100.0,
        None,
        [
            Claim("a", rate_cap=10.0),
            Claim("b", demand_rate=5.0),
            Claim("c", demand_rate=5.0, weight=3.0, rate_cap=50.0),
        ],
    )
    assert rates(shares) == {"a": 10.0, "b": pytest.approx(40.0), "c": pytest.approx(50.0)}


def test_first_claims_are_served_before_weighted_ones() -> None:
    shares = divide(
        100.0,
        None,
        [
            Claim("campaign", weight=1.0),
            Claim("heavy campaign", weight=3.0),
            Claim("one-sim", demand_rate=10.0, first=True),
        ],
    )

    assert rates(shares) == {"campaign": 22.5, "heavy campaign": 67.5, "one-sim": 10.0}


def test_a_first_claim_gets_its_demand_whatever_the_weights() -> None:
    shares = divide(
        100.0,
        None,
        [
            Claim("campaign", weight=100.0),
            Claim("one-sim a", demand_rate=10.0, first=True),
            Claim("one-sim b", demand_rate=30.0, first=True),
        ],
    )

    assert rates(shares) == {"campaign": 60.0, "one-sim a": 10.0, "one-sim b": 30.0}


def test_first_claims_above_the_budget_share_it_and_the_others_creep_on() -> None:
    shares = divide(
        100.0,
        None,
        [
            Claim("campaign"),
            Claim("one-sim a", demand_rate=80.0, first=True),
            Claim("one-sim b", demand_rate=80.0, first=True),
        ],
    )

    assert rates(shares) == {"campaign": MIN_RATE, "one-sim a": 50.0, "one-sim b": 50.0}


def test_without_an_account_rate_every_claim_gets_its_own_caps() -> None:
    shares = divide(
        None,
        None,
        [
            Claim("capped", rate_cap=50.0, concurrency_cap=4, demand_rate=1.0),
            Claim("uncapped", weight=3.0),
            Claim("one-sim", first=True, demand_rate=2.0),
        ],
    )

    assert shares == {
        "capped": Share(50.0, 4),
        "uncapped": Share(UNLIMITED_RATE, UNLIMITED_CONCURRENCY),
        "one-sim": Share(UNLIMITED_RATE, UNLIMITED_CONCURRENCY),
    }


def test_without_an_account_concurrency_every_claim_gets_its_own_cap() -> None:
    shares = divide(100.0, None, [Claim("capped", concurrency_cap=7), Claim("uncapped")])

    assert concurrencies(shares) == {"capped": 7, "uncapped": UNLIMITED_CONCURRENCY}


def test_concurrency_is_water_filled_by_weight() -> None:
    # Fair 2.75, 2.75 and 5.5: "capped" stops at 2, and the 9 left go 3 and 6.
    shares = divide(
        100.0,
        11,
        [Claim("capped", concurrency_cap=2), Claim("light"), Claim("heavy", weight=2.0)],
    )

    assert concurrencies(shares) == {"capped": 2, "light": 3, "heavy": 6}


def test_first_claims_share_concurrency_by_weight() -> None:
    shares = divide(100.0, 4, [Claim("campaign"), Claim("one-sim", demand_rate=10.0, first=True)])

    assert concurrencies(shares) == {"campaign": 2, "one-sim": 2}


def test_every_claim_gets_one_request_in_flight_and_some_rate() -> None:
    shares = divide(0.2, 2, [Claim("a"), Claim("b"), Claim("c"), Claim("d")])

    assert shares == {key: Share(MIN_RATE, 1) for key in ("a", "b", "c", "d")}


def test_no_claims_no_shares() -> None:
    assert divide(100.0, 10, []) == {}


def test_split_follows_what_each_process_runs() -> None:
    parts = split(Share(100.0, 8), {"worker-a": 3, "worker-b": 1, "worker-c": 0})

    assert parts == {"worker-a": Share(75.0, 6), "worker-b": Share(25.0, 2)}


def test_split_never_gives_out_more_slots_than_the_share() -> None:
    # Halves of 3 slots: rounding each half up would let 4 requests fly.
    assert split(Share(90.0, 3), {"worker-b": 1, "worker-a": 1}) == {
        "worker-a": Share(45.0, 2),
        "worker-b": Share(45.0, 1),
    }
    # Thirds of 10: the largest remainder gets the slot left over, or the first holder on a tie.
    parts = split(Share(100.0, 10), {"worker-a": 1, "worker-b": 2})
    assert concurrencies(parts) == {"worker-a": 3, "worker-b": 7}
    parts = split(Share(100.0, 10), {"worker-c": 1, "worker-b": 1, "worker-a": 1})
    assert concurrencies(parts) == {"worker-a": 4, "worker-b": 3, "worker-c": 3}


def test_split_gives_every_running_process_one_slot_and_some_rate() -> None:
    parts = split(Share(0.1, 1), {"worker-a": 1, "worker-b": 1})

    assert parts == {"worker-a": Share(MIN_RATE, 1), "worker-b": Share(MIN_RATE, 1)}


def test_split_of_nothing_running_is_empty() -> None:
    assert split(Share(100.0, 8), {"worker-a": 0}) == {}
    assert split(Share(100.0, 8), {}) == {}
