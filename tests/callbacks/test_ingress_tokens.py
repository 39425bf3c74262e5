"""The ingress's memory of idempotency tokens: the newest `capacity` are remembered, each once."""

from __future__ import annotations

import asyncio

import pytest

from simops.callbacks.ingress import RecentTokens

pytestmark = pytest.mark.timeout(10)


def remember(recent: RecentTokens, *tokens: str) -> None:
    """Signal each token's callback, as the ingress does once a signal was delivered."""
    for token in tokens:
        recent.release(token, recent.claim(token), taken=True)


async def test_the_newest_tokens_are_remembered_and_the_oldest_forgotten() -> None:
    recent = RecentTokens(capacity=3)
    remember(recent, "a", "b", "c", "d", "e")
    assert len(recent) == 3
    assert [await recent.taken(token) for token in "abcde"] == [False, False, True, True, True]


async def test_a_token_taken_twice_is_held_once() -> None:
    recent = RecentTokens(capacity=2)
    remember(recent, "a", "a", "b")
    # Held twice, "a" would have been pushed out by "b" while still among the two newest.
    assert len(recent) == 2
    assert await recent.taken("a")
    assert await recent.taken("b")


async def test_a_duplicate_waits_for_the_first_and_is_not_one_if_the_first_failed() -> None:
    recent = RecentTokens()
    claimed = recent.claim("a")
    duplicate = asyncio.ensure_future(recent.taken("a"))
    await asyncio.sleep(0)
    assert not duplicate.done()
    recent.release("a", claimed, taken=False)
    assert await duplicate is False
    assert not await recent.taken("a")
    assert len(recent) == 0
