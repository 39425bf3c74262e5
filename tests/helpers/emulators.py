"""Emulators for tests: the factory type and its defaults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from simops.emulator.server import RunningEmulator

EmulatorFactory = Callable[..., Awaitable[RunningEmulator]]
"""`await emulator_factory(**EmulatorOptions fields)` starts one more emulator."""

DEFAULT_TEST_OPTIONS: dict[str, Any] = {
    "child_accounts": 1,
    "scheduled_delay": (0.05, 0.05),
    "seed_sims": 20,
    "seed_inventory": 5,
    "callback_retry_base": 0.05,
}
"""What the `emulator` fixture runs with; factories start from these too."""
