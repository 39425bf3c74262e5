"""The emulator's clock: real time plus an offset that `POST /_emulator/clock` advances.

Everything time-based in the Super SIM behaviour (scheduled completions, ready to active after
three months, billing periods, stuck SIMs) reads this clock, so a test can jump months ahead
while tokens and rate limits keep counting real time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime


class EmulatorClock:
    """Wall-clock time in epoch seconds, shifted by the advances asked so far."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        """The emulator's current time, epoch seconds."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward and tell the listeners (the timers) to look again."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self.offset += seconds
        for listener in self._listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every advance."""
        self._listeners.append(listener)


def iso(timestamp: float) -> str:
    """An epoch timestamp in the API's format: ISO-8601 UTC with `Z`, whole seconds."""
    return _iso_second(int(timestamp))


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    # Every response renders two timestamps, mostly the same few seconds: strftime is the
    # slowest step of rendering a Sim, so each second is formatted once.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """An ISO-8601 timestamp (a date alone means midnight UTC) as epoch seconds."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
