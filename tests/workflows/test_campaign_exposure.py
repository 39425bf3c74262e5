"""How many SIMs a campaign touches after it is told to stop or hold, checked against the
emulator's write log (a record simops never writes): a stop and a pause act at the send, not
before the rate limiter's wait."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.schedule import CampaignSchedule
from simops.devstack.in_process import LocalStack
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.campaigns import report, start_activation
from tests.helpers.stacks import emulator_writes, set_faults, wait_for_logged_writes


def first_writes_after(writes: list[dict[str, object]], moment: float) -> list[str]:
    """SIMs whose first write in the log came after `moment` (Unix time)."""
    first_at: dict[str, float] = {}
    for write in writes:
        sim_sid, at = str(write["sim_sid"]), float(str(write["at"]))
        first_at.setdefault(sim_sid, at)
    return sorted(sim for sim, at in first_at.items() if at > moment)


async def test_a_cancel_under_a_low_rate_stops_first_writes_at_the_send(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    # One batch of 40 at 1 request/s: most SIMs wait in the rate limiter when the cancel
    # comes, each with a first-write slot (concurrency 20).
    handle = await start_activation(
        stack, tmp_path, "slow", 40, rate=1.0, concurrency=20, batch_size=40,
        callback_wait_seconds=3.0,
    )  # fmt: skip
    await wait_for_logged_writes(stack.emulator, 4)
    cancelled_at = time.time()
    await handle.signal(CampaignWorkflow.cancel, "cut")
    progress = await handle.query(CampaignWorkflow.progress)
    # Ends within one callback wait of the cancel (plus the dev server's own latency).
    result = await asyncio.wait_for(handle.result(), 3.0 + 15.0)
    writes = await emulator_writes(stack.emulator)
    rows = report(stack, "slow")

    assert (progress.phase, progress.stop_reason) == (CampaignPhase.STOPPING, "cut")
    assert result.phase == CampaignPhase.CANCELLED
    late = first_writes_after(writes, cancelled_at)
    # At 1 request/s at most one request is on the wire at any moment; the stop is recorded
    # a moment after the signal, so allow the one in flight then and one more.
    assert len(late) <= 2, f"{len(late)} SIMs got a first write after the cancel: {late}"
    written = Counter(str(write["sim_sid"]) for write in writes)
    outcomes = Counter(row["outcome"] for row in rows)
    assert sum(outcomes.values()) == 40 and set(outcomes) <= {"converged", "cancelled"}
    for row in rows:
        # The report's writes are the API's: one for each converged SIM, none for the rest.
        expected = 1 if row["outcome"] == "converged" else 0
        assert (row["writes"], written[row["sim_sid"]]) == (str(expected), expected), row
        if row["outcome"] == "cancelled":
            assert row["message"] == "not started: cut"


async def test_pause_holds_first_writes_inside_a_running_batch(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    handle = await start_activation(
        stack, tmp_path, "held", 30, rate=4.0, concurrency=20, batch_size=30
    )
    await wait_for_logged_writes(stack.emulator, 4)
    paused_at = time.time()
    await handle.signal(CampaignWorkflow.pause)
    progress = await handle.query(CampaignWorkflow.progress)
    await asyncio.sleep(4)
    during_pause = await emulator_writes(stack.emulator)
    await handle.signal(CampaignWorkflow.resume)
    result = await asyncio.wait_for(handle.result(), 60)
    writes = await emulator_writes(stack.emulator)

    assert progress.phase == CampaignPhase.PAUSED
    late = first_writes_after(during_pause, paused_at)
    assert len(late) <= 2, f"{len(late)} SIMs got a first write during the pause: {late}"
    assert len(during_pause) < 30
    assert result.phase == CampaignPhase.COMPLETED
    assert result.counts.get("converged") == 30
    # Held SIMs went once the pause ended, each written exactly once.
    assert Counter(Counter(str(write["sim_sid"]) for write in writes).values()) == {1: 30}


async def test_first_writes_happen_only_inside_the_window(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    berlin = ZoneInfo("Europe/Berlin")
    # A window of one minute that opens 10 to 70 s from now, in Berlin's wall-clock time; at
    # 0.5 requests/s it cannot take all 40 SIMs, and the end comes 10 s after it closes.
    opens = (datetime.now(UTC) + timedelta(seconds=70)).replace(second=0, microsecond=0)
    closes = opens + timedelta(minutes=1)
    local_open, local_close = opens.astimezone(berlin), closes.astimezone(berlin)
    window = f"{local_open:%H:%M}-{local_close:%H:%M}"
    schedule = CampaignSchedule(
        end_at=closes + timedelta(seconds=10), windows=[window], timezone="Europe/Berlin"
    )
    # A short callback wait: a SIM whose callback is late is read within seconds, not minutes.
    handle = await start_activation(
        stack, tmp_path, "windowed", 40, rate=0.5, concurrency=10, batch_size=40,
        schedule=schedule, callback_wait_seconds=5.0,
    )  # fmt: skip
    waiting = None
    for _ in range(200):
        waiting = await handle.query(CampaignWorkflow.progress)
        if waiting.phase == CampaignPhase.WAITING:
            break
        await asyncio.sleep(0.05)
    # The window opens within 70 s and lasts 60; the campaign ends at the close (no window
    # opens before the end), so 240 s is a deadline, not a measure.
    result = await asyncio.wait_for(handle.result(), 240)
    writes = await emulator_writes(stack.emulator)
    rows = report(stack, "windowed")

    assert waiting is not None and waiting.phase == CampaignPhase.WAITING, waiting
    assert waiting.next_window_at == opens
    times = [float(write["at"]) for write in writes]
    assert times, "nothing was written inside the window"
    # Every write inside the window; one request may be on the wire as it closes.
    assert min(times) >= opens.timestamp(), (opens, min(times))
    assert len([at for at in times if at > closes.timestamp()]) <= 1, (closes, times)
    outcomes = Counter(row["outcome"] for row in rows)
    assert result.phase == CampaignPhase.STOPPED
    assert result.stop_reason == "end time reached"
    assert outcomes["converged"] == len(writes) and outcomes["cancelled"] == 40 - len(writes)
    assert {row["message"] for row in rows if row["outcome"] == "cancelled"} == {
        "not started: end time reached"
    }


async def test_a_report_read_mid_run_shows_the_writes_the_api_made(
    campaign_stack: LocalStack, tmp_path: Path
) -> None:
    stack = campaign_stack
    # Every update stays scheduled: the rows stay pending, written once each.
    await set_faults(stack.emulator, stuck_rate=1.0)
    handle = await start_activation(
        stack, tmp_path, "midway", 6, batch_size=6, callback_wait_seconds=1.0
    )
    await wait_for_logged_writes(stack.emulator, 6)
    rows: list[dict[str, str]] = []
    for _ in range(100):
        # The write is recorded with the group commit after the API's answer: a moment later.
        rows = report(stack, "midway")
        if all(row["writes"] == "1" for row in rows):
            break
        await asyncio.sleep(0.05)
    await handle.signal(CampaignWorkflow.cancel, "enough")
    await asyncio.wait_for(handle.result(), 30)
    written = {str(write["sim_sid"]) for write in await emulator_writes(stack.emulator)}

    assert [(row["outcome"], row["writes"]) for row in rows] == [("pending", "1")] * 6, rows
    assert {row["sim_sid"] for row in rows} == written
    assert all(row["before_status"] == "new" and row["after_status"] == "scheduled" for row in rows)
