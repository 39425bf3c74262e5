"""A SIM operation whose worker dies while its write is in flight, on processes of their own.

The write is a local activity: nothing of it is recorded before it ends, so a worker that dies
mid-write leaves the workflow task to time out and another worker runs the activity again, at
attempt 1. The API has no idempotency key: the second run must find the write made (by reading
the SIM) rather than send it again, and the outcome must say the operation wrote the SIM.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simops.clients.sims import start_sim_operation
from simops.core.sim import OutcomeKind, SimStatus
from simops.devstack.processes import ProcessStack
from simops.sim_messages import SimOperationRequest
from tests.helpers.process_stack import new_sims, process_stack, writes_per_sim

pytestmark = pytest.mark.timeout(240)

SCHEDULED_SECONDS = 40
"""Well beyond the time the new worker takes to run the write again (the workflow task's 10 s
timeout, the sticky queue's 5 s, a start): the SIM is still `scheduled` by the dead worker's
write when it does, so a write sent again would be refused and visible."""
ANSWER_DELAY_MS = 8_000
"""The API applies the write, then answers this late: the worker dies before it hears."""


async def until_written(stack: ProcessStack, sim_sid: str) -> None:
    """Wait (30 s at most) until the emulator applied a write to `sim_sid`."""
    for _ in range(600):
        if sim_sid in await writes_per_sim(stack):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no write of {sim_sid} after 30 s: {await writes_per_sim(stack)}")


async def test_a_write_whose_worker_died_is_not_sent_again_and_counts(tmp_path: Path) -> None:
    emulator_args = ["--seed-sims", "3", "--scheduled-delay", str(SCHEDULED_SECONDS)]
    async with process_stack(tmp_path, emulator_args) as stack:
        (sim_sid,) = await new_sims(stack, 1)
        fleet = stack.emulator.parent.fleets[0]
        await stack.emulator_json("POST", "/_emulator/faults", {"latency_ms": ANSWER_DELAY_MS})
        handle = await start_sim_operation(
            stack.client,
            stack.settings.task_queue,
            SimOperationRequest(
                sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE, fleet=fleet
            ),
        )
        await until_written(stack, sim_sid)
        await stack.kill_worker()
        await stack.emulator_json("POST", "/_emulator/faults", {"latency_ms": 0})
        await stack.start_worker()
        outcome = await asyncio.wait_for(handle.result(), 120)
        stats = await stack.emulator_json("GET", "/_emulator/stats")

    assert (outcome.outcome, outcome.writes) == (OutcomeKind.CONVERGED, 1), outcome
    assert stats["state_changing_writes"]["per_sim"].get(sim_sid) == 1
    # No second write reached the API: the SIM, scheduled by the first, would have refused it.
    posts = stats["requests"].get("POST /v1/Sims/{sid}", {})
    assert all(status.startswith("2") for status in posts), posts
