"""Waiting inside workflows: a condition with a time limit, answered as a bool."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow


async def wait_until(condition: Callable[[], bool], limit: timedelta) -> bool:
    """Wait until `condition` holds (True) or `limit` passes (False); no limit below zero."""
    try:
        await workflow.wait_condition(condition, timeout=max(limit, timedelta(0)))
    except TimeoutError:
        return False
    return True
