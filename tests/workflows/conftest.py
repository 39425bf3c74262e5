"""The stack most workflow tests run campaigns on: a dev server, the emulator and a worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from simops.devstack.in_process import LocalStack
from tests.helpers.stacks import campaign_test_stack


@pytest.fixture
async def campaign_stack(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> AsyncIterator[LocalStack]:
    """60 `new` SIMs whose updates resolve in 0.05-0.2 s, and the whole stack in process."""
    emulator = await emulator_factory(seed_sims=60, scheduled_delay=(0.05, 0.2))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        yield stack
