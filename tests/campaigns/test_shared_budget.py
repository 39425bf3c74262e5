"""A campaign's rate shared by the batch activities running now, across worker processes.

Each `CampaignStore.open` is a separate connection, as a separate worker process would have;
every test runs on both backends (leases are timed by the database's clock).
"""

from __future__ import annotations

import asyncio

import pytest

from simops.campaigns import shared_budget
from simops.campaigns.shared_budget import UNPACED_RPS, CampaignPacer
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.campaigns.store.backends import StoreBackend
from simops.campaigns.store.campaign_store import CampaignStore

RATE = 200.0
CONCURRENCY = 40


def create_campaign(stores: StoreBackend, rate: float | None = RATE) -> None:
    spec = CampaignSpec(
        campaign_id="paced",
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(status="new"),
        fleet="HF" + "1" * 32,
        rate=rate,
        concurrency=CONCURRENCY,
    )
    CampaignStore.create(stores, spec, None).close()


def pacer(stores: StoreBackend, worker_id: str) -> CampaignPacer:
    return CampaignPacer(CampaignStore.open(stores, "paced"), worker_id)


async def test_one_process_gives_the_whole_rate_to_whatever_runs(stores: StoreBackend) -> None:
    create_campaign(stores)
    worker = pacer(stores, "worker-a")

    async with worker.activity(0), worker.activity(1):
        assert worker.running == 2
        assert (worker.budget.max_rps, worker.budget.max_concurrency) == (RATE, CONCURRENCY)
    assert worker.running == 0

    # The last activity of a stretch ran alone: it still had the whole rate.
    async with worker.activity(0):
        assert worker.budget.max_rps == RATE


async def test_processes_share_in_proportion_to_what_they_run(stores: StoreBackend) -> None:
    create_campaign(stores)
    first = pacer(stores, "worker-a")
    second = pacer(stores, "worker-b")

    async with first.activity(0), first.activity(1), first.activity(2):
        async with second.activity(3):
            budget_b = second.budget
            assert budget_b.max_rps == pytest.approx(RATE / 4)
            assert budget_b.max_concurrency == CONCURRENCY // 4
            # The first process learns of the second at its next renewal.
            assert await first.renew() == pytest.approx(3 / 4)
            assert first.budget.max_rps == pytest.approx(RATE * 3 / 4)
            assert first.budget.max_rps + budget_b.max_rps == pytest.approx(RATE)
        # The second process ended its activities and dropped its lease.
        assert await first.renew() == 1.0
        assert first.budget.max_rps == pytest.approx(RATE)


async def test_a_dead_process_share_returns_when_its_lease_expires(
    stores: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease_seconds = 0.5
    monkeypatch.setattr(shared_budget, "LEASE_SECONDS", lease_seconds)
    create_campaign(stores)
    survivor = pacer(stores, "worker-a")
    # A process killed while it ran two activities leaves its lease behind, unrenewed.
    dead = CampaignStore.open(stores, "paced")
    dead.renew_pacing_lease("worker-b", 2, lease_seconds=lease_seconds)

    async with survivor.activity(0):
        assert survivor.budget.max_rps == pytest.approx(RATE / 3)
        # The database's clock times leases: the dead lease expires as time passes there.
        await asyncio.sleep(lease_seconds + 0.1)
        assert await survivor.renew() == 1.0
        assert survivor.budget.max_rps == pytest.approx(RATE)


async def test_running_activities_renew_their_lease(
    stores: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_budget, "RENEW_SECONDS", 0.01)
    create_campaign(stores)
    worker = pacer(stores, "worker-a")
    observer = CampaignStore.open(stores, "paced")

    async with worker.activity(0):
        await asyncio.sleep(1.5)
        # Renewed within the last second (its first renewal is older), so still live.
        assert observer.renew_pacing_lease("observer", 0, lease_seconds=1.0) == 1
    assert observer.renew_pacing_lease("observer", 0, lease_seconds=1.0) == 0


async def test_without_a_rate_only_concurrency_paces(stores: StoreBackend) -> None:
    create_campaign(stores, rate=None)
    worker = pacer(stores, "worker-a")
    async with worker.activity(0):
        assert worker.budget.max_rps == UNPACED_RPS
        assert worker.budget.max_concurrency == CONCURRENCY


async def test_a_store_that_cannot_be_written_does_not_fail_the_activity(
    stores: StoreBackend, caplog: pytest.LogCaptureFixture
) -> None:
    create_campaign(stores)
    store = CampaignStore.open(stores, "paced")
    worker = CampaignPacer(store, "worker-a")
    store.close()

    async with worker.activity(0):
        assert worker.budget.max_rps == RATE
    assert worker.running == 0
    assert "lease not renewed" in caplog.text
