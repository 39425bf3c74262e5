"""A 10,000-SIM activation campaign through the command line, on `simops dev` and on the stack
in separate processes started by the benchmarks (tests/helpers/process_stack.py).

    .venv/bin/python -m bench.dev_bench [--sims 10000] [--warm-up-sims 200] [--workers N]
        [--scheduled-delay 1] [--stacks dev,processes]

For each stack, as a user would: `simops sims list --status new -o json` for the SIMs, a CSV with
a `fleet` column, a warm-up campaign (a new worker's first workflow tasks pay for its imports),
then `simops campaign start --action activate --from-file … --watch`, timed from the command to
its exit (the campaign completed). Prints SIMs/s and the CPU each process used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from simops.devstack.dev import default_workers
from tests.helpers.process_stack import cpu_seconds, process_stack
from tests.helpers.processes import (
    SIMOPS,
    CliStack,
    DevBanner,
    clean_environment,
    dev_ports,
    port_options,
    simops,
)

STARTUP_SECONDS = 300.0


def child_pids(parent: int) -> dict[str, int]:
    """The children of `parent`, named by their command line, from /proc."""
    children: dict[str, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == parent:
            words = [word.decode() for word in command if word]
            # `python -m simops worker`, `python -m simops.emulator --port …`, `temporal server …`
            name = Path(words[0]).name
            if words[1:2] == ["-m"]:
                name = " ".join(word for word in words[2:4] if not word.startswith("-"))
            children[f"{name} ({stat.parent.name})"] = int(stat.parent.name)
    return children


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent not idle since boot (/proc/stat), to tell whether
    something besides the stack competed for the machine."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def dev_stack(
    directory: Path, seed: int, workers: int, delay: str, ports: dict[str, int] | None = None
) -> AsyncIterator[CliStack]:
    """`simops dev` in `directory`, on `ports` (`dev_ports`; free ones when not given), until it
    is stopped with SIGINT (Ctrl-C)."""
    arguments = port_options(ports or dev_ports())
    arguments += ["--seed-sims", str(seed), "--scheduled-delay", delay, "--workers", str(workers)]
    process = await asyncio.create_subprocess_exec(
        *SIMOPS,
        "dev",
        *arguments,
        cwd=directory,
        env=clean_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(STARTUP_SECONDS):
        while not DevBanner(lines).ready:
            lines.append(line := (await process.stdout.readline()).decode())
            if not line:
                raise SystemExit(f"simops dev exited with code {await process.wait()}")
    try:
        yield CliStack(
            directory, clean_environment(), DevBanner(lines).fleet, lambda: child_pids(process.pid)
        )
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        rest, _ = await process.communicate()
        if process.returncode not in (0, -signal.SIGINT):
            # Whatever stopped the stack is in its output: print it beside the bench's error.
            print("".join(lines) + rest.decode(errors="replace"), file=sys.stderr)


@asynccontextmanager
async def separate_processes(directory: Path, seed: int, delay: str) -> AsyncIterator[CliStack]:
    """The benchmarks' stack: dev server, emulator, `simops callbacks`, one `simops worker`."""
    emulator_args = ["--seed-sims", str(seed), "--scheduled-delay", delay]
    async with process_stack(directory, emulator_args) as stack:
        yield CliStack(directory, stack.environment, stack.emulator.parent.fleets[0], stack.pids)


@dataclass
class Timed:
    """How long one campaign took, and how its rows ended."""

    command_seconds: float
    """From `campaign start` to its exit, as a user waits (`--watch` polls once a second)."""
    workflow_seconds: float
    """From the campaign workflow's start to its end, by its own clock."""
    counts: dict[str, int]


def campaign_file(stack: CliStack, campaign_id: str, sids: list[str]) -> Path:
    """A campaign file of `sids`, each with the stack's first Fleet."""
    source = stack.directory / f"{campaign_id}.csv"
    with source.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sim", "fleet"])
        writer.writerows([sid, stack.fleet] for sid in sids)
    return source


async def campaign(stack: CliStack, campaign_id: str, sids: list[str]) -> Timed:
    """Activate `sids` into the stack's first Fleet with one `campaign start --watch`."""
    source = campaign_file(stack, campaign_id, sids)
    started = time.perf_counter()
    await simops(
        stack,
        *("campaign", "start", "--action", "activate", "--from-file", str(source)),
        *("--id", campaign_id, "--watch"),
    )
    elapsed = time.perf_counter() - started
    status = json.loads(await simops(stack, "campaign", "status", campaign_id, "-o", "json"))
    if status.get("phase") != "completed":
        raise SystemExit(f"campaign {campaign_id}: {status}")
    workflow = datetime.fromisoformat(status["finished_at"]) - datetime.fromisoformat(
        status["started_at"]
    )
    return Timed(elapsed, workflow.total_seconds(), status["counts"])


async def measure(
    name: str,
    stack_of: Callable[[Path], AbstractAsyncContextManager[CliStack]],
    args: argparse.Namespace,
) -> None:
    """Warm up, time one campaign of `args.sims` SIMs, print the figures."""
    with tempfile.TemporaryDirectory() as scratch:
        async with stack_of(Path(scratch)) as stack:
            listed = await simops(
                stack, "sims", "list", "--status", "new", "-o", "json",
                "--limit", str(args.sims + args.warm_up_sims),
            )  # fmt: skip
            sids = [sim["sid"] for sim in json.loads(listed)]
            if args.warm_up_sims:
                await campaign(stack, "warm-up", sids[: args.warm_up_sims])
            pids = stack.pids()
            cpu_before = {label: cpu_seconds(pid) for label, pid in pids.items()}
            machine_before = machine_busy_seconds()
            timed = await campaign(stack, "bench", sids[args.warm_up_sims :])
            cpu = {label: cpu_seconds(pid) - cpu_before[label] for label, pid in pids.items()}
            machine = machine_busy_seconds() - machine_before
    converged = timed.counts.get("converged", 0)
    elapsed = timed.command_seconds
    print(f"{name}: {converged:,} SIMs in {elapsed:.1f} s: {converged / elapsed:,.0f} SIMs/s")
    workflow = timed.workflow_seconds
    print(f"  the campaign workflow alone: {workflow:.1f} s, {converged / workflow:,.0f} SIMs/s")
    print(f"  counts: {timed.counts}")
    for label, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  CPU {label:<40} {seconds:6.1f} s ({seconds / elapsed:.0%} of a core)")
    total = sum(cpu.values())
    cores = os.cpu_count() or 1
    print(
        f"  CPU of the stack: {total / elapsed / cores:.0%} of the machine; every process "
        f"(this one, the CLI, anything else running): {machine / elapsed / cores:.0%}"
    )


async def main(args: argparse.Namespace) -> None:
    """Measure each stack asked for, one after the other."""
    seed = args.sims + args.warm_up_sims
    stacks: dict[str, Callable[[], Awaitable[None]]] = {
        "dev": lambda: measure(
            f"simops dev --workers {args.workers}",
            lambda directory: dev_stack(directory, seed, args.workers, args.scheduled_delay),
            args,
        ),
        "processes": lambda: measure(
            "separate processes (tests/helpers/process_stack.py, 1 worker)",
            lambda directory: separate_processes(directory, seed, args.scheduled_delay),
            args,
        ),
    }
    for name in args.stacks.split(","):
        await stacks[name]()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--warm-up-sims", type=int, default=200)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--scheduled-delay", default="1", help="the emulator's, for both stacks")
    parser.add_argument("--stacks", default="dev,processes", help="which, in this order")
    asyncio.run(main(parser.parse_args()))
