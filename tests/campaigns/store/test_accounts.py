"""The account tables on both backends (SQLite files, a real PostgreSQL): budgets, leases timed
by the database's clock, and the queue of campaigns under a cap on running ones."""

from __future__ import annotations

import threading
import time

import pytest

from simops.campaigns.store.accounts import ONE_SIM_PARTY, Lease, SlotClaim
from simops.campaigns.store.backends import StoreBackend

ACCOUNT = "https://supersim.example|twilio:AC" + "1" * 32
OTHER_ACCOUNT = "https://supersim.example|twilio:AC" + "2" * 32


def lease(holder: str, party: str, running: int = 1, weight: float = 1.0) -> Lease:
    return Lease(holder, party, weight, None, None, running, None)


def test_limits_are_set_replaced_cleared_and_listed(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        assert accounts.limits() == []
        assert accounts.limit(ACCOUNT) is None

        accounts.set_limit(OTHER_ACCOUNT, 50.0, None)
        set_limit = accounts.set_limit(ACCOUNT, 100.0, 10)
        assert (set_limit.account, set_limit.rate, set_limit.concurrency) == (ACCOUNT, 100.0, 10)
        assert set_limit.updated_at is not None

        replaced = accounts.set_limit(ACCOUNT, 20.5, None)
        assert accounts.limit(ACCOUNT) == replaced
        assert (replaced.rate, replaced.concurrency) == (20.5, None)
        assert [(limit.account, limit.rate, limit.concurrency) for limit in accounts.limits()] == [
            (ACCOUNT, 20.5, None),
            (OTHER_ACCOUNT, 50.0, None),
        ]

        assert accounts.clear_limit(ACCOUNT) is True
        assert accounts.clear_limit(ACCOUNT) is False
        assert accounts.limit(ACCOUNT) is None
        assert [limit.account for limit in accounts.limits()] == [OTHER_ACCOUNT]


def test_limits_are_shared_by_every_connection(stores: StoreBackend) -> None:
    with stores.accounts() as writer:
        writer.set_limit(ACCOUNT, 100.0, 10)
    with stores.accounts() as reader:
        limit = reader.limit(ACCOUNT)
    assert limit is not None
    assert (limit.rate, limit.concurrency) == (100.0, 10)


@pytest.mark.parametrize(("rate", "concurrency"), [(0.0, None), (-1.0, 5), (10.0, 0), (10.0, -3)])
def test_bad_limits_are_rejected(
    stores: StoreBackend, rate: float, concurrency: int | None
) -> None:
    with stores.accounts() as accounts:
        with pytest.raises(ValueError, match="rate above 0"):
            accounts.set_limit(ACCOUNT, rate, concurrency)
        assert accounts.limits() == []


def test_renew_replaces_a_holders_leases(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        accounts.set_limit(ACCOUNT, 100.0, 10)
        full = Lease("worker-a", "campaign-1", 3.0, 25.0, 4, 2, 12.5)
        limit, live = accounts.renew(
            ACCOUNT, "worker-a", [full, lease("worker-a", ONE_SIM_PARTY)], lease_seconds=60
        )
        assert limit is not None
        assert (limit.rate, limit.concurrency) == (100.0, 10)
        assert live == [lease("worker-a", ONE_SIM_PARTY), full]

        _, live = accounts.renew(
            ACCOUNT, "worker-b", [lease("worker-b", "campaign-1")], lease_seconds=60
        )
        assert [(item.holder, item.party) for item in live] == [
            ("worker-a", ""),
            ("worker-a", "campaign-1"),
            ("worker-b", "campaign-1"),
        ]

        # worker-a draws for another campaign only: its earlier leases are gone.
        _, live = accounts.renew(
            ACCOUNT, "worker-a", [lease("worker-a", "campaign-2", running=5)], lease_seconds=60
        )
        assert live == [lease("worker-a", "campaign-2", running=5), lease("worker-b", "campaign-1")]

        # No leases: it draws nothing now.
        _, live = accounts.renew(ACCOUNT, "worker-a", [], lease_seconds=60)
        assert live == [lease("worker-b", "campaign-1")]
        assert accounts.leases(ACCOUNT, lease_seconds=60) == live


def test_leases_and_limits_are_per_account(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        accounts.set_limit(OTHER_ACCOUNT, 5.0, 1)
        accounts.renew(OTHER_ACCOUNT, "worker-a", [lease("worker-a", "c")], lease_seconds=60)

        limit, live = accounts.renew(
            ACCOUNT, "worker-a", [lease("worker-a", "d")], lease_seconds=60
        )

        assert limit is None
        assert live == [lease("worker-a", "d")]
        assert accounts.leases(OTHER_ACCOUNT, lease_seconds=60) == [lease("worker-a", "c")]
        assert accounts.accounts_drawing(lease_seconds=60) == sorted([ACCOUNT, OTHER_ACCOUNT])


def test_expired_leases_vanish_by_the_database_clock(stores: StoreBackend) -> None:
    lease_seconds = 0.3
    with stores.accounts() as accounts, stores.accounts() as other_process:
        other_process.renew(
            ACCOUNT, "dead", [lease("dead", "campaign-1")], lease_seconds=lease_seconds
        )
        _, live = accounts.renew(
            ACCOUNT, "alive", [lease("alive", "campaign-1")], lease_seconds=lease_seconds
        )
        assert [item.holder for item in live] == ["alive", "dead"]

        time.sleep(lease_seconds + 0.1)
        # Unrenewed, "alive" has expired too.
        assert accounts.leases(ACCOUNT, lease_seconds=lease_seconds) == []
        assert accounts.accounts_drawing(lease_seconds=lease_seconds) == []

        _, live = accounts.renew(
            ACCOUNT, "alive", [lease("alive", "campaign-1")], lease_seconds=lease_seconds
        )
        assert live == [lease("alive", "campaign-1")]
        # The renewal deleted the dead lease, whatever age a reader asks for.
        assert other_process.leases(ACCOUNT, lease_seconds=3600) == [lease("alive", "campaign-1")]


def test_one_running_campaign_queues_the_rest_in_start_order(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        # Started in reverse alphabetical order: the queue follows start times, not IDs.
        assert accounts.claim_slot(ACCOUNT, "c-first", 1) == SlotClaim(running=True, ahead=0)
        time.sleep(0.01)
        assert accounts.claim_slot(ACCOUNT, "b-second", 1) == SlotClaim(running=False, ahead=0)
        time.sleep(0.01)
        assert accounts.claim_slot(ACCOUNT, "a-third", 1) == SlotClaim(running=False, ahead=1)

        # Claiming again keeps everybody's place.
        assert accounts.claim_slot(ACCOUNT, "a-third", 1) == SlotClaim(running=False, ahead=1)
        assert accounts.claim_slot(ACCOUNT, "b-second", 1) == SlotClaim(running=False, ahead=0)
        assert accounts.claim_slot(ACCOUNT, "c-first", 1) == SlotClaim(running=True, ahead=0)
        # Another account's campaigns queue on their own.
        assert accounts.claim_slot(OTHER_ACCOUNT, "z", 1) == SlotClaim(running=True, ahead=0)

        assert accounts.release_slot(ACCOUNT, "c-first") == ["b-second", "a-third"]
        # The third may not overtake the second, which is next.
        assert accounts.claim_slot(ACCOUNT, "a-third", 1) == SlotClaim(running=False, ahead=1)
        assert accounts.claim_slot(ACCOUNT, "b-second", 1) == SlotClaim(running=True, ahead=0)
        assert accounts.claim_slot(ACCOUNT, "a-third", 1) == SlotClaim(running=False, ahead=0)

        assert accounts.release_slot(ACCOUNT, "b-second") == ["a-third"]
        assert accounts.claim_slot(ACCOUNT, "a-third", 1) == SlotClaim(running=True, ahead=0)
        assert accounts.release_slot(ACCOUNT, "a-third") == []


def test_a_claim_queues_at_its_campaign_start_time_not_at_the_claim(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        assert accounts.claim_slot(ACCOUNT, "running", 1, 100.0).running
        # The campaign started third claims before the one started second.
        assert accounts.claim_slot(ACCOUNT, "third", 1, 300.0) == SlotClaim(running=False, ahead=0)
        assert accounts.claim_slot(ACCOUNT, "second", 1, 200.0) == SlotClaim(running=False, ahead=0)
        assert accounts.claim_slot(ACCOUNT, "third", 1, 300.0) == SlotClaim(running=False, ahead=1)
        assert accounts.release_slot(ACCOUNT, "running") == ["second", "third"]


def test_the_queue_is_shared_by_every_connection(stores: StoreBackend) -> None:
    with stores.accounts() as first, stores.accounts() as second:
        assert first.claim_slot(ACCOUNT, "one", 1) == SlotClaim(running=True, ahead=0)
        assert second.claim_slot(ACCOUNT, "two", 1) == SlotClaim(running=False, ahead=0)
        assert first.release_slot(ACCOUNT, "one") == ["two"]
        assert second.claim_slot(ACCOUNT, "two", 1) == SlotClaim(running=True, ahead=0)


def test_campaigns_starting_at_once_respect_the_cap(stores: StoreBackend) -> None:
    count = 6
    connections = [stores.accounts() for _ in range(count)]
    barrier = threading.Barrier(count)
    claims: dict[str, SlotClaim] = {}

    def start(index: int) -> None:
        barrier.wait()
        claims[f"campaign-{index}"] = connections[index].claim_slot(ACCOUNT, f"campaign-{index}", 1)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for connection in connections:
            connection.close()

    assert sum(claim.running for claim in claims.values()) == 1
    assert len(claims) == count


def test_a_cap_of_two_runs_two(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        claims = []
        for campaign_id in ("one", "two", "three"):
            claims.append(accounts.claim_slot(ACCOUNT, campaign_id, 2))
            time.sleep(0.01)
        assert claims == [
            SlotClaim(running=True, ahead=0),
            SlotClaim(running=True, ahead=0),
            SlotClaim(running=False, ahead=0),
        ]


def test_without_a_cap_every_campaign_runs(stores: StoreBackend) -> None:
    with stores.accounts() as accounts:
        for campaign_id in ("one", "two", "three", "four"):
            assert accounts.claim_slot(ACCOUNT, campaign_id, None) == SlotClaim(
                running=True, ahead=0
            )
        assert accounts.release_slot(ACCOUNT, "two") == []
