"""Priority slots: never more holders than the limit, the lowest priority number first, and no
newcomer overtakes a waiter when a slot is released."""

from __future__ import annotations

import asyncio

import pytest

from simops.runtime.slots import PrioritySlots

DEADLINE_SECONDS = 5.0


async def test_waiters_get_slots_by_priority_then_by_arrival() -> None:
    slots = PrioritySlots(lambda: 1)
    await slots.acquire()
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await slots.acquire(priority)
        order.append(name)
        slots.release()

    waiters = [
        asyncio.create_task(wait(name, priority))
        for name, priority in [("late row", 9), ("early row", 1), ("middle row", 5), ("early 2", 1)]
    ]
    await asyncio.sleep(0)
    assert slots.waiting == 4
    slots.release()
    await asyncio.wait_for(asyncio.gather(*waiters), DEADLINE_SECONDS)
    assert order == ["early row", "early 2", "middle row", "late row"]
    assert (slots.in_flight, slots.waiting) == (0, 0)


async def test_a_released_slot_goes_to_the_waiter_not_to_a_newcomer() -> None:
    slots = PrioritySlots(lambda: 1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire(5))
    await asyncio.sleep(0)
    slots.release()
    # The newcomer has the better priority and comes before the waiter has woken up: the
    # slot was already handed over, so it waits.
    newcomer = asyncio.create_task(slots.acquire(0))
    await asyncio.wait_for(waiter, DEADLINE_SECONDS)
    await asyncio.sleep(0)
    assert not newcomer.done(), "the newcomer took the slot handed to the waiter"
    slots.release()
    await asyncio.wait_for(newcomer, DEADLINE_SECONDS)
    assert slots.in_flight == 1


async def test_a_cancelled_waiter_holds_no_slot_and_passes_one_it_was_handed() -> None:
    slots = PrioritySlots(lambda: 1)
    await slots.acquire()
    gone = asyncio.create_task(slots.acquire(1))
    behind = asyncio.create_task(slots.acquire(2))
    await asyncio.sleep(0)
    slots.release()  # handed to `gone`, which is cancelled before it runs
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.wait_for(behind, DEADLINE_SECONDS)
    assert (slots.in_flight, slots.waiting) == (1, 0)


async def test_a_larger_limit_is_handed_over_at_once() -> None:
    limit = 1
    slots = PrioritySlots(lambda: limit)
    await slots.acquire()
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    limit = 4
    slots.hand_over()
    await asyncio.wait_for(asyncio.gather(*waiters), DEADLINE_SECONDS)
    assert (slots.in_flight, slots.waiting) == (4, 0)
