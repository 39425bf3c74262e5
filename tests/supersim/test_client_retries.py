"""Which calls are retried, on what, and how often: reads on 5xx, every call on 429, writes never
on 5xx or a lost answer (they may have been applied)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from simops.core.sim import SimUpdate
from simops.supersim import errors
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.supersim import EmulatorControl, make_client

pytestmark = pytest.mark.timeout(60)

SIM_UPDATE_ROUTE = "POST /v1/Sims/{sid}"


def retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.getMessage().startswith("retrying"))


async def test_reads_ride_out_server_errors(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(random_seed=5)
    control = EmulatorControl(emulator)
    await control.faults(error_rate=0.3)
    async with make_client(emulator, api_max_retries=10) as client:
        sids = [sim.sid async for sim in client.list_sims()]
        fetched = await asyncio.gather(*(client.fetch_sim(sid) for sid in sids))
    assert [sim.sid for sim in fetched] == sids
    answers = await control.answers("GET /v1/Sims/{sid}")
    assert answers[200] == len(sids)
    assert answers[500] > 0


async def test_writes_are_not_repeated_after_a_server_error(
    emulator_factory: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = await emulator_factory()
    control = EmulatorControl(emulator)
    async with make_client(emulator) as client:
        sid = (await client.list_sims_page(page_size=1)).sims[0].sid
        await control.faults(error_rate=1.0)
        with (
            caplog.at_level(logging.INFO, logger="simops.supersim.transport"),
            pytest.raises(errors.ServerError),
        ):
            await client.update_sim(sid, SimUpdate(unique_name="maybe-applied"))
    assert await control.answers(SIM_UPDATE_ROUTE) == {500: 1}
    assert retries_logged(caplog) == 0


async def test_writes_are_retried_after_429_and_applied_once(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(random_seed=4)
    control = EmulatorControl(emulator)
    async with make_client(emulator) as client:
        sids = [sim.sid async for sim in client.list_sims(limit=12)]
        await control.faults(rate_limit_rate=0.25)
        results = await asyncio.gather(
            *(
                client.update_sim(sid, SimUpdate(unique_name=f"renamed-{index}"))
                for index, sid in enumerate(sids)
            )
        )
        budget_stats = client.budget.stats()  # type: ignore[attr-defined]
    assert [result.sim.unique_name for result in results] == [
        f"renamed-{index}" for index in range(12)
    ]
    answers = await control.answers(SIM_UPDATE_ROUTE)
    assert answers[200] == 12
    assert answers[429] > 0
    assert budget_stats.rate_limited == answers[429]
    stats = await control.stats()
    assert stats["state_changing_writes"]["total"] == 12
    assert stats["max_writes_per_sim"] == 1


async def test_a_read_without_answer_is_retried_a_write_is_not(
    emulator_factory: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = await emulator_factory()
    control = EmulatorControl(emulator)
    async with make_client(emulator, api_timeout_seconds=0.1, api_max_retries=2) as client:
        sid = (await client.list_sims_page(page_size=1)).sims[0].sid
        await control.faults(latency_ms=400)
        with caplog.at_level(logging.INFO, logger="simops.supersim.transport"):
            with pytest.raises(errors.TransportError):
                await client.fetch_sim(sid)
            assert retries_logged(caplog) == 2
            caplog.clear()
            with pytest.raises(errors.TransportError):
                await client.update_sim(sid, SimUpdate(unique_name="applied-unheard"))
            assert retries_logged(caplog) == 0
        await control.clear_faults()
        # The write was applied although its answer never arrived: why it is not resent.
        assert (await client.fetch_sim(sid)).unique_name == "applied-unheard"
    assert (await control.stats())["state_changing_writes"]["total"] == 1


async def test_a_rate_limited_call_gives_up_after_its_retries(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    control = EmulatorControl(emulator)
    await control.faults(rate_limit_rate=1.0)
    async with make_client(emulator, api_max_rate_limit_retries=1) as client:
        with pytest.raises(errors.RateLimitedError):
            await client.list_fleets()
        assert client.budget.stats().rate_limited == 2  # type: ignore[attr-defined]
    assert await control.answers("GET /v1/Fleets") == {429: 2}
