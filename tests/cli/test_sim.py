"""`simops sim` on a Temporal dev server and the emulator, the command run in this process: a
SIM given by its SID reaches its workflow with no API request from the command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from simops.cli.support import ExitCode
from simops.contract import sim_workflow_id
from simops.devstack.in_process import LocalStack
from tests.cli.conftest import CliStackFactory
from tests.helpers.processes import api_settings
from tests.helpers.stacks import (
    invoke_cli,
    new_sim_sids,
    set_faults,
    start_sim_activation,
    writes_per_sim,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def stack(cli_stack: CliStackFactory) -> LocalStack:
    """A worker and an ingress on the emulator; `simops` reaches their Temporal and task queue
    and has no Super SIM API settings at all."""
    return await cli_stack(campaigns=False, seed_sims=4, scheduled_delay=(0.05, 0.1))


async def test_a_sid_is_activated_with_only_temporal_configured(stack: LocalStack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    fleet = stack.emulator.parent.fleets[0]

    result = await invoke_cli("sim", "activate", sim_sid, "--fleet", fleet, "-o", "json")

    assert result.exit_code == ExitCode.OK, result.output
    outcome = json.loads(result.output)
    assert (outcome["outcome"], outcome["writes"]) == ("converged", 1)
    assert outcome["after"]["status"] == "active"
    assert (await writes_per_sim(stack.emulator))[sim_sid] == 1


async def test_a_sid_typed_in_upper_case_is_the_same_sims_workflow(stack: LocalStack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    typed = sim_sid[:2] + sim_sid[2:].upper()
    fleet = stack.emulator.parent.fleets[0]

    result = await invoke_cli("sim", "activate", typed, "--fleet", fleet, "-o", "json")

    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.output)["sim_sid"] == sim_sid
    description = await stack.client.get_workflow_handle(sim_workflow_id(sim_sid)).describe()
    assert description.id == sim_workflow_id(sim_sid)


async def test_an_unknown_sid_exits_2_with_one_line(stack: LocalStack) -> None:
    unknown = "HS" + "0" * 32

    result = await invoke_cli("sim", "deactivate", unknown)

    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert unknown in lines[0] and "Traceback" not in result.output


async def test_status_shows_the_running_operation(stack: LocalStack, tmp_path: Path) -> None:
    """`sim status` reads the SIM through the API and queries its operation by name."""
    await set_faults(stack.emulator, drop_callback_rate=1.0)
    (sim_sid,) = await new_sim_sids(stack, 1)
    handle = await start_sim_activation(stack, sim_sid)
    for _ in range(100):
        result = await invoke_cli("sim", "status", sim_sid, "-o", "json", env=_api(stack, tmp_path))
        status = json.loads(result.output)
        if status["operation"] is not None and status["operation"]["state"] == "waiting_callback":
            break
        await asyncio.sleep(0.05)
    await handle.terminate("test over")

    assert result.exit_code == ExitCode.OK, result.output
    assert status["sim"]["sid"] == sim_sid
    assert (status["operation"]["operation"], status["operation"]["state"]) == (
        "activate",
        "waiting_callback",
    )


def _api(stack: LocalStack, directory: Path) -> dict[str, str]:
    return api_settings(stack.emulator.api_url, stack.emulator.parent, directory)
