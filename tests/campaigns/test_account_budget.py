"""An account's API budget shared by the campaigns and one-SIM operations of several processes.

Each `AccountBudget` stands for one worker process: its own holder ID, its own process-wide
`RateBudget` and its own connection to the account tables. Every test runs on both backends
(leases are timed by the database's clock). Renewals are slowed down unless a test is about
them, so that a campaign stays "fresh" (it could use more than it gets) while the test looks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
from prometheus_client import REGISTRY

from simops.campaigns import account_budget
from simops.campaigns.account_budget import AccountBudget, AccountDefaults
from simops.campaigns.store.accounts import ONE_SIM_PARTY, Lease
from simops.campaigns.store.backends import StoreBackend
from simops.core.fair_share import UNLIMITED_RATE, Share
from simops.supersim.pacing import RateBudget, RequestBudget

ACCOUNT = "https://supersim.example|twilio:AC" + "1" * 32
LIMIT = 100.0
NO_DEFAULTS = AccountDefaults(None, None)
PROCESS_CONCURRENCY = 50
PROCESS_RATE = 500.0

Process = Callable[..., AccountBudget]


@pytest.fixture(autouse=True)
def slow_renewals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account_budget, "RENEW_SECONDS", 60.0)


@pytest.fixture
def process(stores: StoreBackend) -> Iterator[Process]:
    """A new "process" drawing from `ACCOUNT`; all are closed at teardown."""
    started: list[AccountBudget] = []

    def start(
        holder: str,
        defaults: AccountDefaults = NO_DEFAULTS,
        process_budget: RateBudget | None = None,
    ) -> AccountBudget:
        budget = AccountBudget(
            stores.accounts,
            ACCOUNT,
            holder,
            process_budget or RateBudget(PROCESS_CONCURRENCY, PROCESS_RATE),
            defaults,
        )
        started.append(budget)
        return budget

    yield start
    for budget in started:
        budget.close()


def set_limit(stores: StoreBackend, rate: float, concurrency: int | None) -> None:
    with stores.accounts() as accounts:
        accounts.set_limit(ACCOUNT, rate, concurrency)


def size(budget: RateBudget) -> tuple[float, int]:
    return budget.max_rps, budget.max_concurrency


def campaign_budget(
    process: AccountBudget, campaign_id: str, weight: float = 1.0, rate: float | None = None
) -> RateBudget:
    return process.campaign_budget(campaign_id, weight=weight, rate=rate, concurrency=40)


def draw(
    process: AccountBudget, campaign_id: str, weight: float = 1.0, rate: float | None = None
) -> AbstractAsyncContextManager[RequestBudget]:
    """One running batch activity of the campaign in the process."""
    return process.campaign(campaign_id, weight=weight, rate=rate, concurrency=40, priority=0)


async def test_two_processes_divide_the_account_by_weight(
    stores: StoreBackend, process: Process
) -> None:
    set_limit(stores, LIMIT, 8)
    first, second = process("worker-a"), process("worker-b")
    light, heavy = campaign_budget(first, "light", 1.0), campaign_budget(second, "heavy", 3.0)

    async with draw(first, "light", 1.0):
        # Alone on the account, the campaign has all of it.
        assert size(light) == (LIMIT, 8)
        async with draw(second, "heavy", 3.0):
            assert size(heavy) == (75.0, 6)
            # The first process learns of the second at its next renewal.
            await first.renew()
            assert size(light) == (25.0, 2)
            assert size(first._process_budget) == (25.0, 2)
            assert size(second._process_budget) == (75.0, 6)
            assert first._process_budget.max_rps + second._process_budget.max_rps == LIMIT
            # Both processes see the same division.
            assert first.share_of("heavy") == second.share_of("heavy") == Share(75.0, 6)
            assert first.part_of("light") == Share(25.0, 2)
        # The second process ended its activity and dropped its lease.
        await first.renew()
        assert size(light) == (LIMIT, 8)
        assert first.share_of("heavy") is None


async def test_one_process_divides_between_its_campaigns_by_weight(
    stores: StoreBackend, process: Process
) -> None:
    set_limit(stores, LIMIT, 8)
    worker = process("worker-a")
    light, heavy = campaign_budget(worker, "light", 1.0), campaign_budget(worker, "heavy", 3.0)

    async with draw(worker, "light", 1.0), draw(worker, "heavy", 3.0):
        assert size(light) == (25.0, 2)
        assert size(heavy) == (75.0, 6)
        assert size(worker._process_budget) == (LIMIT, 8)


def published_share(campaign_id: str) -> tuple[float | None, float | None]:
    """The campaign's share as the metrics publish it: requests/s and weight."""
    labels = {"account": ACCOUNT, "campaign": campaign_id}
    return (
        REGISTRY.get_sample_value("simops_campaign_share_rps", labels),
        REGISTRY.get_sample_value("simops_campaign_share_weight", labels),
    )


async def test_the_metrics_publish_each_campaign_share_while_it_draws(
    stores: StoreBackend, process: Process
) -> None:
    set_limit(stores, LIMIT, None)
    worker = process("worker-a")
    campaign_budget(worker, "light", 1.0), campaign_budget(worker, "heavy", 3.0)

    async with draw(worker, "light", 1.0), draw(worker, "heavy", 3.0):
        assert published_share("light") == (25.0, 1.0)
        assert published_share("heavy") == (75.0, 3.0)
    # Ended in this process: no longer published, so a dashboard does not show a stale share.
    assert published_share("light") == (None, None)
    assert published_share("heavy") == (None, None)


async def test_a_campaign_rate_below_its_share_leaves_the_rest_to_the_other(
    stores: StoreBackend, process: Process
) -> None:
    set_limit(stores, LIMIT, None)
    first, second = process("worker-a"), process("worker-b")
    capped = campaign_budget(first, "capped", 3.0, rate=10.0)
    other = campaign_budget(second, "other", 1.0)

    async with draw(first, "capped", 3.0, rate=10.0), draw(second, "other", 1.0):
        await first.renew()
        assert size(capped) == (10.0, 40)
        assert size(other) == (90.0, 40)
        assert first._process_budget.max_rps + second._process_budget.max_rps == LIMIT


async def test_processes_running_one_campaign_split_its_share_by_activities(
    stores: StoreBackend, process: Process
) -> None:
    set_limit(stores, LIMIT, 8)
    first, second = process("worker-a"), process("worker-b")
    in_first, in_second = campaign_budget(first, "paced"), campaign_budget(second, "paced")

    async with draw(first, "paced"), draw(first, "paced"), draw(first, "paced"):
        async with draw(second, "paced"):
            assert size(in_second) == (25.0, 2)
            await first.renew()
            assert size(in_first) == (75.0, 6)
            assert first.share_of("paced") == Share(LIMIT, 8)
        await first.renew()
        assert size(in_first) == (LIMIT, 8)


def own_rate(process: AccountBudget) -> AbstractAsyncContextManager[RequestBudget]:
    """One running batch activity of a campaign with its own --rate 200 and --concurrency 40."""
    return process.campaign("paced", weight=1.0, rate=200.0, concurrency=40, priority=0)


def own_rate_budget(process: AccountBudget) -> RateBudget:
    return process.campaign_budget("paced", weight=1.0, rate=200.0, concurrency=40)


async def test_without_a_budget_a_campaign_gets_its_own_rate_and_concurrency(
    stores: StoreBackend, process: Process
) -> None:
    worker = process("worker-a")
    paced = own_rate_budget(worker)

    async with own_rate(worker), own_rate(worker):
        assert size(paced) == (200.0, 40)
        # The process budget keeps the limits it was made with.
        assert size(worker._process_budget) == (PROCESS_RATE, PROCESS_CONCURRENCY)
    # The last activity of a stretch ran alone: it still had the whole rate.
    async with own_rate(worker):
        assert size(paced) == (200.0, 40)


async def test_without_a_budget_processes_split_a_campaign_by_activities(
    stores: StoreBackend, process: Process
) -> None:
    first, second = process("worker-a"), process("worker-b")

    async with own_rate(first), own_rate(first), own_rate(first):
        async with own_rate(second):
            assert size(own_rate_budget(second)) == (50.0, 10)
            await first.renew()
            assert size(own_rate_budget(first)) == (150.0, 30)
        await first.renew()
        assert size(own_rate_budget(first)) == (200.0, 40)


async def test_without_a_budget_or_a_rate_only_concurrency_paces(
    stores: StoreBackend, process: Process
) -> None:
    worker = process("worker-a")
    async with worker.campaign("paced", weight=1.0, rate=None, concurrency=40, priority=0):
        paced = worker.campaign_budget("paced", weight=1.0, rate=None, concurrency=40)
        assert size(paced) == (UNLIMITED_RATE, 40)


async def test_the_default_budget_holds_for_accounts_without_a_limit(
    stores: StoreBackend, process: Process
) -> None:
    worker = process("worker-a", AccountDefaults(LIMIT, None))
    light, heavy = campaign_budget(worker, "light", 1.0), campaign_budget(worker, "heavy", 3.0)

    async with draw(worker, "light", 1.0), draw(worker, "heavy", 3.0):
        # No account concurrency: each campaign keeps its own.
        assert size(light) == (25.0, 40)
        assert size(heavy) == (75.0, 40)
        assert size(worker._process_budget) == (LIMIT, 80)

        # The account's own limit wins over the default.
        set_limit(stores, 40.0, 4)
        await worker.renew()
        assert size(light) == (10.0, 1)
        assert size(heavy) == (30.0, 3)
        assert size(worker._process_budget) == (40.0, 4)


async def test_a_dead_process_share_returns_when_its_lease_expires(
    stores: StoreBackend, process: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease_seconds = 0.5
    monkeypatch.setattr(account_budget, "LEASE_SECONDS", lease_seconds)
    set_limit(stores, LIMIT, 8)
    # A process killed while it ran a heavy campaign leaves its lease behind, unrenewed.
    with stores.accounts() as dead:
        dead.renew(
            ACCOUNT,
            "dead",
            [Lease("dead", "heavy", 3.0, None, None, 1, None)],
            lease_seconds=lease_seconds,
        )
    survivor = process("worker-a")
    light = campaign_budget(survivor, "light", 1.0)

    async with draw(survivor, "light", 1.0):
        assert size(light) == (25.0, 2)
        # The database's clock times leases: the dead lease expires as time passes there.
        await asyncio.sleep(lease_seconds + 0.1)
        await survivor.renew()
        assert size(light) == (LIMIT, 8)
        assert survivor.share_of("heavy") is None


async def test_running_activities_renew_their_leases(
    stores: StoreBackend, process: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(account_budget, "RENEW_SECONDS", 0.05)
    worker = process("worker-a")

    with stores.accounts() as observer:
        async with draw(worker, "light"), draw(worker, "light"):
            await asyncio.sleep(1.0)
            # Renewed within the last 0.3 s (its first renewal is a second old), so still live.
            live = observer.leases(ACCOUNT, lease_seconds=0.3)
            assert [(lease.holder, lease.party, lease.running) for lease in live] == [
                ("worker-a", "light", 2)
            ]
        # The last activity to end dropped the lease.
        assert observer.leases(ACCOUNT, lease_seconds=60) == []
        await asyncio.sleep(0.3)
        assert observer.leases(ACCOUNT, lease_seconds=60) == []


async def test_a_one_sim_request_claims_its_part_first(
    stores: StoreBackend, process: Process
) -> None:
    set_limit(stores, LIMIT, None)
    operator, campaigns = process("operator"), process("campaigns")
    light = campaign_budget(campaigns, "light")

    with stores.accounts() as observer:
        async with draw(campaigns, "light"):
            assert light.max_rps == LIMIT
            async with operator.one_sim().slot():
                # The process's first one-SIM request claims a tenth of the account's rate.
                assert observer.leases(ACCOUNT, lease_seconds=60) == [
                    Lease("campaigns", "light", 1.0, None, 40, 1, None),
                    Lease("operator", ONE_SIM_PARTY, 1.0, None, None, 1, 10.0),
                ]
                assert operator._process_budget.max_rps == 10.0
                await campaigns.renew()
                assert light.max_rps == 90.0
            # Only for the request's duration.
            assert [lease.holder for lease in observer.leases(ACCOUNT, lease_seconds=60)] == [
                "campaigns"
            ]
            await campaigns.renew()
            assert light.max_rps == LIMIT


async def test_one_sim_requests_go_ahead_of_queued_campaign_requests(
    stores: StoreBackend, process: Process
) -> None:
    shared = RateBudget(2, 1e6)
    worker = process("worker-a", process_budget=shared)
    granted: list[str] = []
    releases: dict[str, asyncio.Event] = {}

    async def campaign_request(name: str) -> None:
        releases[name] = asyncio.Event()
        async with draw(worker, "busy") as requests, requests.slot():
            granted.append(name)
            await releases[name].wait()

    async def one_sim_request() -> None:
        releases["one-sim"] = asyncio.Event()
        async with worker.one_sim().slot():
            granted.append("one-sim")
            await releases["one-sim"].wait()

    async def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

    tasks = []
    with stores.accounts() as observer:
        for name in ("running-1", "running-2", "queued-1", "queued-2", "queued-3"):
            tasks.append(asyncio.create_task(campaign_request(name)))
            await until(lambda: shared.stats().in_flight + shared.stats().waiting == len(tasks))
        assert granted == ["running-1", "running-2"]

        tasks.append(asyncio.create_task(one_sim_request()))
        await until(lambda: shared.stats().waiting == 4)
        assert [lease.party for lease in observer.leases(ACCOUNT, lease_seconds=60)] == [
            ONE_SIM_PARTY,
            "busy",
        ]

        releases["running-1"].set()
        await until(lambda: len(granted) == 3)
        assert granted[2] == "one-sim"
        assert (shared.stats().in_flight, shared.stats().waiting) == (2, 3)

        for name in ("one-sim", "running-2", "queued-1", "queued-2", "queued-3"):
            releases[name].set()
        await asyncio.gather(*tasks)
        assert granted[3:] == ["queued-1", "queued-2", "queued-3"]
        assert observer.leases(ACCOUNT, lease_seconds=60) == []


async def test_a_store_that_fails_does_not_fail_the_activity(
    stores: StoreBackend, caplog: pytest.LogCaptureFixture
) -> None:
    broken = stores.accounts()
    broken.close()
    worker = AccountBudget(lambda: broken, ACCOUNT, "worker-a", RateBudget(5, 50.0), NO_DEFAULTS)
    paced = own_rate_budget(worker)

    async with own_rate(worker) as requests, requests.slot():
        assert size(paced) == (200.0, 40)
    async with worker.one_sim().slot():
        pass
    assert "budget leases not renewed" in caplog.text
    assert paced.stats().granted == 1
    worker.close()
