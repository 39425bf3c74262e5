"""Fault injection: what `POST /_emulator/faults` turns on, drawn from one seeded generator.

Faults apply to the Super SIM routes (`/v1/...`) and to callbacks, never to the control API or
the token endpoint, so a test can always inspect and reset the emulator it is breaking.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

RATE_FIELDS = frozenset(
    {
        "error_rate",
        "error_after_write_rate",
        "rate_limit_rate",
        "drop_callback_rate",
        "duplicate_callback_rate",
        "stuck_rate",
    }
)
MILLISECOND_FIELDS = frozenset({"latency_ms", "callback_delay_ms"})
MAX_DELAY_MS = 600_000.0


@dataclass(slots=True)
class FaultSettings:
    """The active faults; every rate is a probability in [0, 1], delays are milliseconds.

    `error_after_write_rate` answers 500 to a write the emulator applied: the answer is lost,
    not the update, so a client cannot tell it from a write that never happened.
    """

    error_rate: float = 0.0
    error_after_write_rate: float = 0.0
    rate_limit_rate: float = 0.0
    latency_ms: float = 0.0
    drop_callback_rate: float = 0.0
    duplicate_callback_rate: float = 0.0
    stuck_rate: float = 0.0
    callback_delay_ms: float = 0.0


class Faults:
    """The active fault settings and the dice they are rolled with."""

    def __init__(self, rng: random.Random) -> None:
        self.settings = FaultSettings()
        self._rng = rng

    def as_dict(self) -> dict[str, float]:
        """The active set, as the control API shows it."""
        return asdict(self.settings)

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply any subset of the settings; raises `ValueError` naming a bad key or value."""
        known = {item.name for item in fields(FaultSettings)}
        validated: dict[str, float] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"fault {name} must be a number")
            number = float(value)
            if name in RATE_FIELDS and not 0.0 <= number <= 1.0:
                raise ValueError(f"fault {name} must be between 0 and 1")
            if name in MILLISECOND_FIELDS and not 0.0 <= number <= MAX_DELAY_MS:
                raise ValueError(f"fault {name} must be between 0 and {MAX_DELAY_MS:.0f} ms")
            validated[name] = number
        for name, number in validated.items():
            setattr(self.settings, name, number)

    def reset(self) -> None:
        """Turn every fault off."""
        self.settings = FaultSettings()

    def roll(self, rate: float) -> bool:
        """Whether a fault with probability `rate` happens this time."""
        return rate > 0.0 and self._rng.random() < rate
