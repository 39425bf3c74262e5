"""`simops sim activate` from the command to its exit, on `simops dev` with a fixed scheduled delay.

    .venv/bin/python -m bench.sim_cli_bench [--runs 20] [--scheduled-delay 1] [--warm-up 2]

Starts `simops dev` (one worker per two cores) with the emulator's `--scheduled-delay` (a single
number: every update completes that many seconds after it was sent), then runs
`simops sim activate SID --fleet FLEET -o json` as a child process on `--runs` new SIMs, one after
another, each timed from its spawn to its exit; `--warm-up` activations first, untimed (a new
worker's first workflow pays for its imports). Prints p50 and p95, the delay, the overhead (p50 -
delay) and where the overhead goes, from each run's workflow history (event times are the
server's, on this machine's clock):

- spawn -> workflow started: the CLI's start-up (interpreter, imports, settings), connecting to
  Temporal and the start request;
- started -> write answered: the worker picking the workflow up, the reads and the write (local
  activities, recorded when the workflow task completes);
- write answered -> callback signalled, less the delay: the emulator's callback, the ingress and
  its signal;
- callback -> workflow completed: the workflow task that reads the SIM back and returns;
- completed -> exit: the result reaching the CLI, its output and the process's exit.

Each command's CPU (user + system) is printed too: on a shared machine, load stretches the wall
times, much less the CPU. For scale, the wall time of new interpreters that only import what any
command starting a workflow through the SDK must (`FLOOR_IMPORTS`). One more activation runs
under `python -X importtime`, untimed: the CLI's imports, by top-level package. The CLI runs
with bytecode caching on (without PYTHONDONTWRITEBYTECODE), as an installed simops has its
bytecode compiled at install time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.dev_bench import dev_stack
from bench.sim_operation_bench import percentile
from simops.contract import sim_workflow_id
from simops.devstack.dev import default_workers
from simops.emulator.server import parse_delay
from simops.runtime.env_file import read_env_file
from tests.helpers.processes import SIMOPS, CliStack, simops

FLOOR_IMPORTS = "import typer, pydantic_settings, temporalio.client, temporalio.contrib.pydantic"
"""What any command that starts a workflow with the SDK imports, with simops' settings and
converter: the part of the start-up no change to simops removes."""
FLOOR_RUNS = 5

STAGES = (
    "spawn -> workflow started (CLI start-up, connect, start)",
    "started -> write answered (worker, reads, write)",
    "write answered -> callback signalled, less the delay",
    "callback -> workflow completed (read back, result)",
    "completed -> exit (result to the CLI, output, exit)",
)


@dataclass(frozen=True)
class Run:
    """One timed activation: wall seconds from spawn to exit, the CLI's CPU seconds, and the
    stages of `STAGES`."""

    seconds: float
    cpu_seconds: float
    stages: tuple[float, ...]


@dataclass(frozen=True)
class Command:
    """One `simops sim activate` that converged: when it was spawned and when it exited (epoch
    seconds, comparable with the server's event times), the CPU it used, and its stderr."""

    spawned: float
    exited: float
    cpu_seconds: float
    stderr: str


def _event_seconds(event: HistoryEvent) -> float:
    return event.event_time.ToMicroseconds() / 1e6


def _stages(events: list[HistoryEvent], spawned: float, exited: float, delay: float) -> list[float]:
    """Seconds of each of `STAGES`, from the workflow's history events; the write is answered
    when the last marker (local activity result) before the callback's signal is recorded."""
    started = _event_seconds(events[0])
    signalled_events = (
        e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    signal = next(signalled_events, None)
    if signal is None:
        raise SystemExit("an activation ended without a callback: the stages need one")
    markers = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and e.event_id < signal.event_id
    ]
    written = _event_seconds(markers[-1])
    signalled = _event_seconds(signal)
    completed = _event_seconds(events[-1])
    return [
        started - spawned,
        written - started,
        signalled - written - delay,
        completed - signalled,
        exited - completed,
    ]


def cli_environment(stack: CliStack) -> dict[str, str]:
    """The stack's environment, with bytecode caching on for the CLI (see the module's doc)."""
    return {k: v for k, v in stack.environment.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def activate(stack: CliStack, sid: str, *python_options: str) -> Command:
    """Run `simops sim activate SID --fleet F -o json`; exit if it did not converge."""
    command = [SIMOPS[0], *python_options, *SIMOPS[1:]]
    # The only child this process waits for meanwhile: the CPU of the children it reaped
    # grows by this command's.
    cpu_before = _children_cpu_seconds()
    spawned = time.time()
    process = await asyncio.create_subprocess_exec(
        *command,
        *("sim", "activate", sid, "--fleet", stack.fleet, "-o", "json"),
        cwd=stack.directory,
        env=cli_environment(stack),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    exited = time.time()
    if process.returncode != 0 or json.loads(out)["outcome"] != "converged":
        raise SystemExit(f"activation of {sid}: exit {process.returncode}: {out!r} {err!r}")
    return Command(spawned, exited, _children_cpu_seconds() - cpu_before, err.decode())


async def python_seconds(code: str, runs: int) -> float:
    """The median wall time of `python -c CODE`, in a new interpreter each time."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(SIMOPS[0], "-c", code)
        if await process.wait() != 0:
            raise SystemExit(f"python -c {code!r} failed")
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def import_breakdown(importtime: str, top: int) -> list[tuple[str, float]]:
    """The total and the `top` costliest packages of `python -X importtime` output, in seconds:
    each module's own time counted to its top-level package (`temporalio`, `pydantic`, ...)."""
    costs: dict[str, float] = {}
    for line in importtime.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        own, _, name = fields
        package = name.strip().split(".")[0]
        costs[package] = costs.get(package, 0.0) + int(own) / 1e6
    ranked = sorted(costs.items(), key=lambda item: -item[1])
    return [("all", sum(costs.values())), *ranked[:top]]


async def bench(args: argparse.Namespace) -> None:
    """Start the stack, warm up, time `args.runs` activations, print the figures."""
    low, high = parse_delay(args.scheduled_delay)
    if low != high:
        raise SystemExit("--scheduled-delay must be one number (a fixed delay), not a range")
    sims_needed = args.warm_up + args.runs + 1
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        async with dev_stack(directory, sims_needed, args.workers, args.scheduled_delay) as stack:
            listed = await simops(
                stack, "sims", "list", "--status", "new", "-o", "json", "--limit", str(sims_needed)
            )
            sids = [sim["sid"] for sim in json.loads(listed)]
            address = read_env_file(directory / ".simops" / "env")["SIMOPS_TEMPORAL_ADDRESS"]
            client = await Client.connect(address)
            for sid in sids[: args.warm_up]:
                await activate(stack, sid)
            for sid in sids[args.warm_up : args.warm_up + args.runs]:
                done = await activate(stack, sid)
                handle = client.get_workflow_handle(sim_workflow_id(sid))
                events = list((await handle.fetch_history()).events)
                stages = _stages(events, done.spawned, done.exited, low)
                runs.append(Run(done.exited - done.spawned, done.cpu_seconds, tuple(stages)))
            importtime = (await activate(stack, sids[-1], "-X", "importtime")).stderr
            interpreter = await python_seconds("pass", FLOOR_RUNS)
            floor = await python_seconds(FLOOR_IMPORTS, FLOOR_RUNS)
    wall = [run.seconds for run in runs]
    p50 = percentile(wall, 0.5)
    print(f"simops sim activate, {len(runs)} runs on simops dev --workers {args.workers}")
    print(f"scheduled delay (fixed)     {low:.3f} s")
    print(f"command to exit p50         {p50:.3f} s")
    print(f"command to exit p95         {percentile(wall, 0.95):.3f} s")
    print(f"command to exit min, max    {min(wall):.3f} s, {max(wall):.3f} s")
    print(f"load average at the end     {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(f"overhead (p50 - delay)      {p50 - low:.3f} s (goal <= 0.400 s)")
    cpu = statistics.median(run.cpu_seconds for run in runs)
    print(f"CPU of the command p50      {cpu:.3f} s (user + system: what load does not stretch)")
    print("where the overhead goes (median of the runs, seconds):")
    for index, stage in enumerate(STAGES):
        print(f"  {stage:<58} {statistics.median(run.stages[index] for run in runs):.3f}")
    print(f"for scale, median of {FLOOR_RUNS} new interpreters (seconds):")
    print(f"  {'python -c pass':<58} {interpreter:.3f}")
    print(f"  {'the floor: FLOOR_IMPORTS (the SDK client, settings, typer)':<58} {floor:.3f}")
    print("the CLI's imports (python -X importtime, one more run; seconds by package):")
    for name, seconds in import_breakdown(importtime, args.top_imports):
        print(f"  {name:<58} {seconds:.3f}")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scheduled-delay", default="1", help="seconds, one number")
    parser.add_argument("--warm-up", type=int, default=2)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--top-imports", type=int, default=8)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
