"""Campaigns of growing size on one `simops dev`, up to a million SIMs from a file and a million
from a filter: time, SIMs/s, preparation, CPU per SIM and each process's peak memory.

    .venv/bin/python -m bench.million_bench [--file-sizes 10000,100000,1000000]
        [--filter-sims 1000000] [--warm-up-sims 200] [--workers 1] [--scheduled-delay 1]

`simops dev --seed-sims N` seeds every SIM the campaigns need (N = the warm-up, the file
campaigns and the filter campaign together), all `new`. Then, as a user would, one after the
other on the same stack:

- a warm-up campaign (a new worker's first workflow tasks pay for its imports);
- for each of `--file-sizes`: `simops campaign start --action activate --from-file F --watch`
  over that many SIMs listed by `simops sims list --status new -o json`;
- `simops campaign start --action activate --status new --fleet F --watch`: every SIM still
  `new` (the `--filter-sims` left after the file campaigns), listed by the campaign itself.

Each campaign is timed from the command to its exit. Its preparation (listing, validation and
the snapshot) is the prepare activity's time in the campaign's history, from scheduled to
completed. Peak RSS is each process's VmHWM, reset before every campaign (`/proc/PID/clear_refs`,
which takes root; without it the peak is since the process started, and the script says so).
The emulator's bytes per SIM are its peak RSS over the SIMs it holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.dev_bench import campaign_file, dev_stack, machine_busy_seconds
from simops.contract import campaign_workflow_id
from simops.devstack.dev import default_workers
from tests.helpers.process_stack import cpu_seconds, peak_rss_mib, reset_peak_rss
from tests.helpers.processes import CliStack, dev_ports, simops

PREPARE_ACTIVITY = "prepare_campaign"
MIB = 1024 * 1024


@dataclass
class Measured:
    """One campaign: how long, how its rows ended, and what each process used."""

    name: str
    sims: int
    seconds: float
    preparation_seconds: float | None
    counts: dict[str, int]
    cpu_seconds: dict[str, float]
    peak_rss_mib: dict[str, float]
    peak_reset: bool

    @property
    def sims_per_second(self) -> float:
        """SIMs converged per second, from the command to its exit."""
        return self.counts.get("converged", 0) / self.seconds


async def preparation_seconds(client: Client, campaign_id: str) -> float | None:
    """From the prepare activity's scheduling to its completion, in the campaign's history (its
    first run's: a long campaign continues as new)."""
    query = f"WorkflowId = '{campaign_workflow_id(campaign_id)}'"
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        scheduled: dict[int, float] = {}
        async for event in handle.fetch_history_events():
            at = event.event_time.ToDatetime().timestamp()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                if attributes.activity_type.name == PREPARE_ACTIVITY:
                    scheduled[event.event_id] = at
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed = event.activity_task_completed_event_attributes
                started = scheduled.get(completed.scheduled_event_id)
                if started is not None:
                    return at - started
    return None


async def run(stack: CliStack, client: Client, name: str, sims: int, *arguments: str) -> Measured:
    """One `campaign start … --watch`, measured."""
    pids = stack.pids()
    reset = all([reset_peak_rss(pid) for pid in pids.values()])
    cpu_before = {label: cpu_seconds(pid) for label, pid in pids.items()}
    started = time.perf_counter()
    await simops(
        stack, "campaign", "start", "--action", "activate", "--id", name, "--watch", *arguments
    )
    seconds = time.perf_counter() - started
    status = json.loads(await simops(stack, "campaign", "status", name, "-o", "json"))
    if status.get("phase") != "completed":
        raise SystemExit(f"campaign {name}: {status}")
    return Measured(
        name=name,
        sims=sims,
        seconds=seconds,
        preparation_seconds=await preparation_seconds(client, name),
        counts=status["counts"],
        cpu_seconds={label: cpu_seconds(pid) - cpu_before[label] for label, pid in pids.items()},
        peak_rss_mib={label: peak_rss_mib(pid) for label, pid in pids.items()},
        peak_reset=reset,
    )


def report(measured: Measured, emulator_sims: int) -> None:
    """Print one campaign's figures."""
    converged = measured.counts.get("converged", 0)
    preparation = measured.preparation_seconds
    print(
        f"{measured.name}: {measured.sims:,} SIMs, {measured.seconds:.1f} s, "
        f"{measured.sims_per_second:,.0f} SIMs/s, {converged:,} converged; preparation "
        + (f"{preparation:.1f} s" if preparation is not None else "not found in the history")
    )
    print(f"  counts: {measured.counts}")
    peak = "peak RSS" if measured.peak_reset else "peak RSS since the process started"
    for label in sorted(measured.cpu_seconds, key=lambda name: -measured.cpu_seconds[name]):
        cpu_ms = measured.cpu_seconds[label] * 1000 / max(measured.sims, 1)
        rss = measured.peak_rss_mib[label]
        line = f"  {label:<44} CPU {cpu_ms:.3f} ms/SIM, {peak} {rss:,.0f} MiB"
        if "emulator" in label:
            line += f" ({rss * MIB / emulator_sims:,.0f} bytes per SIM held)"
        print(line)
    total = sum(measured.cpu_seconds.values()) * 1000 / max(measured.sims, 1)
    print(f"  {'whole stack':<44} CPU {total:.3f} ms/SIM")


async def main(args: argparse.Namespace) -> None:
    """Seed, then run the campaigns in order and print each one's figures and the ratios."""
    file_sizes = [int(size) for size in args.file_sizes.split(",") if size]
    seed = args.warm_up_sims + sum(file_sizes) + args.filter_sims
    ports = dev_ports()
    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        seeding = time.perf_counter()
        async with dev_stack(
            directory, seed, args.workers, args.scheduled_delay, ports=ports
        ) as stack:
            ready = time.perf_counter() - seeding
            print(f"simops dev --seed-sims {seed:,}: ready after {ready:.1f} s")
            client = await Client.connect(f"127.0.0.1:{ports['temporal-port']}")
            listed = await simops(
                stack, "sims", "list", "--status", "new", "-o", "json",
                "--limit", str(args.warm_up_sims + sum(file_sizes)),
            )  # fmt: skip
            sids = [sim["sid"] for sim in json.loads(listed)]
            if args.warm_up_sims:
                source = campaign_file(stack, "warm-up", sids[: args.warm_up_sims])
                await run(stack, client, "warm-up", args.warm_up_sims, "--from-file", str(source))
            next_sid = args.warm_up_sims
            held = seed
            machine_before = machine_busy_seconds()
            for size in file_sizes:
                name = f"file-{size}"
                source = campaign_file(stack, name, sids[next_sid : next_sid + size])
                next_sid += size
                results.append(await run(stack, client, name, size, "--from-file", str(source)))
                report(results[-1], held)
            if args.filter_sims:
                name = f"filter-{args.filter_sims}"
                filtered = ("--status", "new", "--fleet", stack.fleet)
                results.append(await run(stack, client, name, args.filter_sims, *filtered))
                report(results[-1], held)
            busy = machine_busy_seconds() - machine_before
            elapsed = sum(result.seconds for result in results)
            cores = os.cpu_count() or 1
            print(f"machine busy {busy / max(elapsed, 1e-9) / cores:.0%} of its cores meanwhile")
    compare(results)


def compare(results: list[Measured]) -> None:
    """The issue's ratios: SIMs/s of the largest campaigns against the smallest, and peak RSS
    of simops' own processes at the largest against the one ten times smaller."""
    if len(results) < 2:
        return
    smallest = results[0]
    for result in results[1:]:
        ratio = result.sims_per_second / smallest.sims_per_second
        print(f"SIMs/s of {result.name} / {smallest.name}: {ratio:.0%}")
    by_size = {result.sims: result for result in results if result.name.startswith("file-")}
    for result in results:
        tenth = by_size.get(result.sims // 10)
        if tenth is None:
            continue
        for label, rss in result.peak_rss_mib.items():
            if label in tenth.peak_rss_mib and "emulator" not in label:
                change = rss / tenth.peak_rss_mib[label] - 1
                print(f"peak RSS {label} at {result.name} vs {tenth.name}: {change:+.0%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-sizes", default="10000,100000,1000000")
    parser.add_argument("--filter-sims", type=int, default=1_000_000)
    parser.add_argument("--warm-up-sims", type=int, default=200)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--scheduled-delay", default="1")
    asyncio.run(main(parser.parse_args()))
