"""The SIM operation's waits and deadlines, on the time-skipping test server.

The emulator's own clock runs in real time while Temporal's skips, so a SIM that the emulator
keeps `scheduled` stays so however far Temporal's clock jumps: that is the stuck SIM.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from simops.core.sim import OutcomeKind, SimStatus
from simops.sim_messages import SimOperationOutcome, SimOperationRequest
from simops.workflows.sim_operation import SimOperationWorkflow
from tests.helpers.stacks import Stack, new_sim_sids, running_stack, set_faults


async def _activate(stack: Stack, sim_sid: str, **overrides: Any) -> SimOperationOutcome:
    request = SimOperationRequest(
        sim_sid=sim_sid,
        operation="activate",
        status=SimStatus.ACTIVE,
        fleet=stack.emulator.parent.fleets[0],
        **overrides,
    )
    return await stack.client.execute_workflow(
        SimOperationWorkflow.run,
        request,
        id=f"sim-{sim_sid}-{uuid.uuid4()}",
        task_queue=stack.settings.task_queue,
    )


async def test_polling_converges_when_no_callback_arrives(
    time_skipping_env: WorkflowEnvironment, emulator_factory: Any
) -> None:
    emulator = await emulator_factory(seed_sims=2, scheduled_delay=(0.05, 0.05))
    await set_faults(emulator, drop_callback_rate=1.0)
    async with running_stack(time_skipping_env, emulator) as stack:
        (sim_sid,) = await new_sim_sids(stack, 1)
        outcome = await _activate(stack, sim_sid)
        observed = await stack.api.fetch_sim(sim_sid)

    assert outcome.outcome == OutcomeKind.CONVERGED
    assert outcome.writes == 1
    assert outcome.before is not None and outcome.before.status == SimStatus.NEW
    assert outcome.after is not None and outcome.after.status == SimStatus.ACTIVE
    assert observed.status == SimStatus.ACTIVE
    assert observed.fleet_sid == emulator.parent.fleets[0]


async def test_stuck_sim_fails_at_the_operation_deadline(
    time_skipping_env: WorkflowEnvironment, emulator_factory: Any
) -> None:
    emulator = await emulator_factory(seed_sims=2, scheduled_delay=(0.05, 0.05))
    await set_faults(emulator, stuck_rate=1.0)
    async with running_stack(time_skipping_env, emulator) as stack:
        (sim_sid,) = await new_sim_sids(stack, 1)
        outcome = await _activate(stack, sim_sid, deadline_seconds=3600.0)

    assert outcome.outcome == OutcomeKind.FAILED
    assert outcome.reason is not None and "deadline" in outcome.reason
    assert outcome.after is not None and outcome.after.status == SimStatus.SCHEDULED
    assert outcome.writes == 1


async def test_callback_before_the_wait_is_not_missed(
    time_skipping_env: WorkflowEnvironment, emulator_factory: Any
) -> None:
    # The emulator answers 0.5 s after applying the update and the SIM settles in 0.01 s: the
    # callback reaches the workflow while its update call is still running, before it waits.
    emulator = await emulator_factory(seed_sims=2, scheduled_delay=(0.01, 0.01))
    await set_faults(emulator, latency_ms=500)
    async with running_stack(time_skipping_env, emulator) as stack:
        (sim_sid,) = await new_sim_sids(stack, 1)
        started = time.monotonic()
        handle = await stack.client.start_workflow(
            SimOperationWorkflow.run,
            SimOperationRequest(
                sim_sid=sim_sid,
                operation="activate",
                status=SimStatus.ACTIVE,
                fleet=emulator.parent.fleets[0],
                callback_wait_seconds=60.0,
            ),
            id=f"sim-{sim_sid}",
            task_queue=stack.settings.task_queue,
        )
        with time_skipping_env.auto_time_skipping_disabled():
            outcome = await handle.result()
        elapsed = time.monotonic() - started
        progress = await handle.query(SimOperationWorkflow.progress)
        history = await handle.fetch_history()

    assert outcome.outcome == OutcomeKind.CONVERGED
    assert progress.callbacks_received == 1
    assert stack.ingress is not None and stack.ingress.counts["signalled"] == 1
    # Had the workflow missed or dropped the early callback it would have waited out the 60 s
    # callback deadline (real time here) and then polled.
    assert elapsed < 30
    polls = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name
        == "poll_until_settled"
    ]
    assert polls == []
