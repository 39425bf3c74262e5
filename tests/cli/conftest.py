"""What the command-line tests share."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from simops.devstack.in_process import LocalStack
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.stacks import campaign_test_stack, reach_from_the_cli, running_stack

CliStackFactory = Callable[..., Awaitable[LocalStack]]
"""`await cli_stack(campaigns=..., **EmulatorOptions fields)` starts a stack for the CLI."""


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SIMOPS_* variables and no `.simops/env` but what a test sets (a module asks for it
    with `pytest.mark.usefixtures("isolated")`)."""
    for name in list(os.environ):
        if name.startswith("SIMOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def cli_stack(
    dev_env: WorkflowEnvironment,
    emulator_factory: EmulatorFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[CliStackFactory]:
    """Start a worker and an ingress on a new emulator (any `EmulatorOptions` fields), and
    point the `simops` commands this test runs at their Temporal, task queue and campaign
    store, from `tmp_path`. With `campaigns` (the default) it is the stack campaign tests run
    on (`campaign_test_stack`), else the bare `running_stack`. All stop at teardown."""
    async with AsyncExitStack() as started:

        async def start(*, campaigns: bool = True, **emulator_options: Any) -> LocalStack:
            emulator = await emulator_factory(**emulator_options)
            opened = (
                campaign_test_stack(dev_env, emulator, tmp_path)
                if campaigns
                else running_stack(dev_env, emulator)
            )
            stack = await started.enter_async_context(opened)
            reach_from_the_cli(monkeypatch, dev_env, stack, tmp_path)
            return stack

        yield start
