"""Record SIM operation histories for the replay test (tests/workflows/test_replay.py).

Run it after a deliberate, versioned change to a workflow, and commit the files it writes:
    .venv/bin/python tools/record_histories.py tests/workflows/histories
The replay test then fails on any later change that would break these recorded executions.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack, local_stack
from simops.emulator.server import EmulatorOptions, start_emulator
from simops.messages import SimOperationRequest
from simops.runtime.binaries import temporal_dev_server
from simops.starters import start_sim_operation
from simops.workflows.search_attributes import ALL_KEYS


async def _record(stack: LocalStack, name: str, request: SimOperationRequest, out: Path) -> None:
    handle = await start_sim_operation(stack.client, stack.settings.task_queue, request)
    outcome = await handle.result()
    history = await handle.fetch_history()
    (out / f"{name}.json").write_text(history.to_json())
    print(f"{name}: {outcome.outcome.value}, {len(history.events)} events")


async def record(out: Path) -> None:
    """Run one operation per scenario and write each history as JSON into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_dev_server()),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
    )
    emulator = await start_emulator(
        EmulatorOptions(seed_sims=6, child_accounts=1, scheduled_delay=(0.05, 0.1))
    )
    try:
        async with local_stack(env.client, emulator, callback_wait_seconds=1.0) as stack:
            sims = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=4)]
            fleet = emulator.parent.fleets[0]
            child = emulator.accounts[1].account_sid
            scenarios = {
                "activate_with_callback": SimOperationRequest(
                    sim_sid=sims[0], operation="activate", status=SimStatus.ACTIVE, fleet=fleet
                ),
                "activate_without_fleet_fails": SimOperationRequest(
                    sim_sid=sims[1], operation="activate", status=SimStatus.ACTIVE
                ),
                "move_to_child": SimOperationRequest(
                    sim_sid=sims[2], operation="move", account_sid=child, remove_fleet=True
                ),
                "deactivate_active": SimOperationRequest(
                    sim_sid=sims[0], operation="deactivate", status=SimStatus.INACTIVE
                ),
            }
            for name, request in scenarios.items():
                await _record(stack, name, request, out)
    finally:
        await emulator.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/workflows/histories")))
