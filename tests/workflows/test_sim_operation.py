"""The SIM operation end to end on a Temporal dev server: outcomes, search attributes, busy SIMs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from simops.clients.sims import SimBusyError, start_sim_operation
from simops.contract import SIM_OPERATION, SIM_OPERATION_STATE, SIM_SID
from simops.core.sim import OutcomeKind, SimStatus
from simops.sim_messages import SimOperationOutcome, SimOperationRequest
from simops.workflows.sim_operation import SimOperationWorkflow
from tests.helpers.stacks import (
    Stack,
    emulator_stats,
    new_sim_sids,
    running_stack,
    set_faults,
    start_sim_activation,
    writes_per_sim,
)


async def _run(stack: Stack, **fields: Any) -> SimOperationOutcome:
    handle = await start_sim_operation(
        stack.client, stack.settings.task_queue, SimOperationRequest(**fields)
    )
    return await handle.result()


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, emulator_factory: Any) -> Any:
    emulator = await emulator_factory(seed_sims=10, child_accounts=1, scheduled_delay=(0.05, 0.2))
    async with running_stack(dev_env, emulator) as running:
        yield running


async def test_activation_converges_through_the_callback(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    handle = await start_sim_activation(stack, sim_sid)
    outcome = await handle.result()
    progress = await handle.query(SimOperationWorkflow.progress)
    description = await handle.describe()

    assert outcome.outcome == OutcomeKind.CONVERGED
    assert outcome.after is not None and outcome.after.status == SimStatus.ACTIVE
    assert progress.callbacks_received >= 1
    attributes = description.typed_search_attributes
    assert attributes.get(SIM_SID) == sim_sid
    assert attributes.get(SIM_OPERATION) == "activate"
    assert attributes.get(SIM_OPERATION_STATE) == "converged"
    iccid = (await stack.api.fetch_sim(sim_sid)).iccid
    assert iccid is not None
    assert all(iccid not in str(value) for value in attributes)
    assert (await writes_per_sim(stack.emulator))[sim_sid] == 1


async def test_second_run_is_already_converged_and_writes_nothing(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    fields = {
        "sim_sid": sim_sid,
        "operation": "activate",
        "status": SimStatus.ACTIVE,
        "fleet": stack.emulator.parent.fleets[0],
    }
    first = await _run(stack, **fields)
    second = await _run(stack, **fields)

    assert first.outcome == OutcomeKind.CONVERGED
    assert second.outcome == OutcomeKind.ALREADY_CONVERGED
    assert second.writes == 0
    assert (await writes_per_sim(stack.emulator))[sim_sid] == 1


async def test_a_busy_sim_refuses_a_second_operation_naming_the_first(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    first = await start_sim_activation(stack, sim_sid)
    with pytest.raises(SimBusyError, match="operation 'activate'") as busy:
        await start_sim_operation(
            stack.client,
            stack.settings.task_queue,
            SimOperationRequest(sim_sid=sim_sid, operation="rename", unique_name="other"),
        )
    assert busy.value.running_operation == "activate"
    assert (await first.result()).outcome == OutcomeKind.CONVERGED


async def test_activation_without_a_fleet_fails_with_the_rule(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    outcome = await _run(stack, sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE)

    assert outcome.outcome == OutcomeKind.FAILED
    assert outcome.code == 83007
    assert outcome.writes == 0
    assert sim_sid not in await writes_per_sim(stack.emulator)


async def test_reactivate_applies_only_to_inactive_sims(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    outcome = await _run(
        stack,
        sim_sid=sim_sid,
        operation="reactivate",
        status=SimStatus.ACTIVE,
        from_statuses=[SimStatus.INACTIVE],
    )

    assert outcome.outcome == OutcomeKind.FAILED
    assert outcome.code == 83010
    assert outcome.reason is not None and "new" in outcome.reason


async def test_full_lifecycle_deactivate_reactivate_and_fleet_change(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    fleets = stack.emulator.parent.fleets
    activated = await _run(
        stack, sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE, fleet=fleets[0]
    )
    moved_fleet = await _run(stack, sim_sid=sim_sid, operation="set-fleet", fleet=fleets[1])
    deactivated = await _run(
        stack, sim_sid=sim_sid, operation="deactivate", status=SimStatus.INACTIVE
    )
    reactivated = await _run(
        stack,
        sim_sid=sim_sid,
        operation="reactivate",
        status=SimStatus.ACTIVE,
        from_statuses=[SimStatus.INACTIVE],
    )

    assert [o.outcome for o in (activated, moved_fleet, deactivated, reactivated)] == [
        OutcomeKind.CONVERGED
    ] * 4
    assert moved_fleet.after is not None and moved_fleet.after.fleet_sid == fleets[1]
    assert reactivated.after is not None and reactivated.after.status == SimStatus.ACTIVE
    assert (await writes_per_sim(stack.emulator))[sim_sid] == 4


async def test_move_a_new_sim_to_a_child_without_its_fleet(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    child = stack.emulator.accounts[1]
    await _run(stack, sim_sid=sim_sid, operation="set-fleet", fleet=stack.emulator.parent.fleets[0])
    refused = await _run(stack, sim_sid=sim_sid, operation="move", account_sid=child.account_sid)
    moved = await _run(
        stack,
        sim_sid=sim_sid,
        operation="move",
        account_sid=child.account_sid,
        remove_fleet=True,
    )

    assert refused.outcome == OutcomeKind.FAILED
    assert refused.code == 83006
    assert moved.outcome == OutcomeKind.CONVERGED
    assert moved.after is not None
    assert moved.after.account_sid == child.account_sid
    assert moved.after.fleet_sid is None


async def test_a_fleet_named_in_a_move_is_the_destination_accounts(stack: Stack) -> None:
    (sim_sid,) = await new_sim_sids(stack, 1)
    child = stack.emulator.accounts[1]

    moved = await _run(
        stack, sim_sid=sim_sid, operation="move", account_sid=child.account_sid, fleet="iot-eu"
    )

    # The parent has an `iot-eu` too: the name means the child's, where the SIM goes.
    assert moved.outcome == OutcomeKind.CONVERGED, moved.reason
    assert moved.after is not None
    assert (moved.after.account_sid, moved.after.fleet_sid) == (child.account_sid, child.fleets[1])


async def test_unknown_sim_fails_with_not_found(stack: Stack) -> None:
    outcome = await _run(
        stack, sim_sid="HS" + "0" * 32, operation="activate", status=SimStatus.ACTIVE
    )

    assert outcome.outcome == OutcomeKind.FAILED
    assert outcome.code == 20404


@pytest.fixture
async def slow_stack(dev_env: WorkflowEnvironment, emulator_factory: Any) -> Any:
    """Updates take 3 s: a retry one second after the first attempt finds the SIM scheduled."""
    emulator = await emulator_factory(seed_sims=5, scheduled_delay=(3.0, 3.0))
    async with running_stack(dev_env, emulator) as running:
        yield running


@pytest.mark.parametrize(
    "operation",
    [
        {"operation": "activate", "status": SimStatus.ACTIVE, "fleet": "default"},
        {"operation": "rename", "unique_name": "answer-lost"},
    ],
    ids=["activate-scheduled", "rename-immediate"],
)
async def test_a_write_whose_answer_was_lost_is_read_back_not_resent(
    slow_stack: Stack, operation: dict[str, Any]
) -> None:
    stack = slow_stack
    (sim_sid,) = await new_sim_sids(stack, 1)
    # Every write is applied and answered 500: only a read can tell the retry it took effect.
    await set_faults(stack.emulator, error_after_write_rate=1.0)

    handle = await start_sim_operation(
        stack.client,
        stack.settings.task_queue,
        SimOperationRequest(sim_sid=sim_sid, **operation),
    )
    try:
        outcome = await asyncio.wait_for(handle.result(), timeout=30)
    finally:
        # A workflow resending forever would hold up the worker's shutdown: end it.
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("the test gave up on it")
    stats = await emulator_stats(stack.emulator)

    assert (outcome.outcome, outcome.writes) == (OutcomeKind.CONVERGED, 1)
    assert stats["state_changing_writes"]["per_sim"] == {sim_sid: 1}
    assert stats["requests"]["POST /v1/Sims/{sid}"] == {"500": 1}
