"""Campaign throughput, the naive comparison, pacing under a rate limit, and memory at scale.

    .venv/bin/python -m bench.campaign_bench [--sims 10000] [--runs 3] [--warm-up-sims 200]
        [--naive-sims 10000] [--rate-sims 5000] [--rate-workers 2] [--big 100000]

Everything local and in separate processes: Temporal dev server, emulator (`--scheduled-delay 1
--max-concurrency 100`), `simops callbacks`, `simops worker`; this process only starts
campaigns and reads results. Prints one table; figures are measured, never assumed.

The throughput figure is the median of `--runs` campaigns in a row on one stack, after a small
warm-up campaign (a new worker's first workflow tasks pay for its imports); each run is printed
too, because the host's speed varies from minute to minute.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.clients.campaigns import start_campaign
from simops.clients.sims import start_sim_operation
from simops.core.sim import OutcomeKind, SimStatus
from simops.runtime import event_loop
from simops.sim_messages import SimOperationRequest
from simops.supersim.client import SuperSimClient
from tests.helpers.process_stack import ProcessStack, cpu_seconds, peak_rss_mib, process_stack

EMULATOR_MAX_CONCURRENCY = 100
THROUGHPUT_EMULATOR = ["--scheduled-delay", "1", "--max-concurrency", str(EMULATOR_MAX_CONCURRENCY)]


@dataclass
class Figure:
    """One line of the table."""

    name: str
    value: str


async def new_sim_sids(stack: ProcessStack, count: int) -> list[str]:
    """SIDs of `count` new SIMs of the parent account."""
    async with SuperSimClient.from_settings(stack.settings) as api:
        return [s.sid async for s in api.list_sims(status=SimStatus.NEW, limit=count)]


async def run_campaign(
    stack: ProcessStack, campaign_id: str, sids: list[str], **spec_fields: object
) -> tuple[float, dict[str, int]]:
    """Start an activation campaign over `sids` from a file; seconds until it ended, counts."""
    source = stack.directory / f"{campaign_id}.csv"
    source.write_text("sim\n" + "".join(f"{sid}\n" for sid in sids))
    spec_fields.setdefault("concurrency", EMULATOR_MAX_CONCURRENCY)
    spec = CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name=source.name),
        fleet=stack.emulator.parent.fleets[0],
        **spec_fields,
    )
    started = time.perf_counter()
    handle = await start_campaign(stack.client, stack.settings, spec, source)
    result = await handle.result()
    elapsed = time.perf_counter() - started
    if result.phase != CampaignPhase.COMPLETED:
        raise SystemExit(f"campaign {campaign_id} ended {result.phase}: {result.stop_reason}")
    return elapsed, result.counts


async def run_naive(stack: ProcessStack, sids: list[str], in_flight: int) -> float:
    """One SIM operation workflow per SIM, `in_flight` at a time; seconds until all ended."""
    gate = asyncio.Semaphore(in_flight)
    fleet = stack.emulator.parent.fleets[0]

    async def activate(sim_sid: str) -> None:
        async with gate:
            handle = await start_sim_operation(
                stack.client,
                stack.settings.task_queue,
                SimOperationRequest(
                    sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE, fleet=fleet
                ),
            )
            outcome = await handle.result()
            if outcome.outcome != OutcomeKind.CONVERGED:
                raise SystemExit(f"naive activation of {sim_sid}: {outcome.outcome}")

    started = time.perf_counter()
    await asyncio.gather(*(activate(sid) for sid in sids))
    return time.perf_counter() - started


async def workflow_histories(client: Client) -> AsyncIterator[WorkflowHistory]:
    """The history of every workflow run on the server."""
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        yield await handle.fetch_history()


async def activities_by_worker(client: Client) -> Counter[str]:
    """How many activity attempts each worker (by its Temporal identity) started."""
    started: Counter[str] = Counter()
    async for history in workflow_histories(client):
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                started[event.activity_task_started_event_attributes.identity] += 1
    return started


async def largest_history(client: Client) -> int:
    """The largest history, in events, of any workflow on the server."""
    return max([len(history.events) async for history in workflow_histories(client)], default=0)


@dataclass
class Throughput:
    """What `--runs` campaigns in a row on one stack measured."""

    sims: int
    warm_up_seconds: float | None
    runs: list[tuple[float, dict[str, int]]]
    """Each campaign's seconds from start to end, and its outcome counts."""
    cpu_seconds: dict[str, float]
    """CPU each process of the stack used during the measured campaigns, by name."""

    @property
    def rates(self) -> list[float]:
        """SIMs converged per second, per campaign."""
        return [counts.get("converged", 0) / elapsed for elapsed, counts in self.runs]

    @property
    def elapsed(self) -> float:
        """Seconds of the measured campaigns together."""
        return sum(elapsed for elapsed, _ in self.runs)

    def cpu_ms_per_sim(self) -> dict[str, float]:
        """Milliseconds of CPU per SIM, by process, and `whole stack` for their sum."""
        sims_run = self.sims * len(self.runs)
        per_process = {
            name: seconds * 1000 / sims_run for name, seconds in self.cpu_seconds.items()
        }
        return {**per_process, WHOLE_STACK: sum(per_process.values())}


WHOLE_STACK = "whole stack"


async def measure_throughput(
    stack: ProcessStack,
    sids: list[str],
    sims: int,
    runs: int,
    warm_up_sims: int,
    **spec_fields: object,
) -> Throughput:
    """A warm-up campaign of `warm_up_sims` of `sids` (a new worker's first workflow tasks pay
    for its imports, about 0.6 s, which a deployed worker paid long before), then `runs`
    campaigns of `sims` SIMs each, with the CPU each process used meanwhile."""
    warm_up_seconds = None
    if warm_up_sims:
        warm_up_seconds, _ = await run_campaign(stack, "warm-up", sids[:warm_up_sims])
    campaign_sids = sids[warm_up_sims : warm_up_sims + sims * runs]
    cpu_before = {name: cpu_seconds(pid) for name, pid in stack.pids().items()}
    measured = []
    for run in range(runs):
        measured.append(
            await run_campaign(
                stack,
                f"throughput-{run + 1}",
                campaign_sids[run * sims : (run + 1) * sims],
                **spec_fields,
            )
        )
    cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in stack.pids().items()}
    return Throughput(sims, warm_up_seconds, measured, cpu_used)


async def throughput(
    sims: int,
    runs: int,
    warm_up_sims: int,
    naive_sims: int,
    in_flight: int,
    figures: list[Figure],
    **spec_fields: object,
) -> None:
    """`runs` campaigns of `sims` SIMs each (see `measure_throughput`), then the naive way over
    `naive_sims` more."""
    measured_end = warm_up_sims + sims * runs
    seed = measured_end + naive_sims
    with tempfile.TemporaryDirectory() as scratch:
        args = [*THROUGHPUT_EMULATOR, "--seed-sims", str(seed)]
        async with process_stack(Path(scratch), args) as stack:
            sids = await new_sim_sids(stack, seed)
            measured = await measure_throughput(
                stack, sids, sims, runs, warm_up_sims, **spec_fields
            )
            if measured.warm_up_seconds is not None:
                figures.append(
                    Figure(
                        f"warm-up campaign ({warm_up_sims:,} SIMs, new worker)",
                        f"{measured.warm_up_seconds:.1f} s",
                    )
                )
            for run, ((elapsed, counts), rate) in enumerate(
                zip(measured.runs, measured.rates, strict=True)
            ):
                figures.append(
                    Figure(
                        f"{sims:,}-SIM activation campaign, run {run + 1}",
                        f"{elapsed:.1f} s, {rate:,.0f} SIMs/s, {counts}",
                    )
                )
            campaign_rate = statistics.median(measured.rates)
            figures.append(
                Figure(
                    f"campaign SIMs/s (start to last verified, median of {runs})",
                    f"{campaign_rate:,.0f}",
                )
            )
            cores = os.cpu_count() or 1
            for name, ms in measured.cpu_ms_per_sim().items():
                seconds = ms * sims * runs / 1000
                share = (
                    f"{seconds / measured.elapsed / cores:.0%} of the machine"
                    if name == WHOLE_STACK
                    else f"{seconds / measured.elapsed:.0%} of a core"
                )
                figures.append(Figure(f"  CPU of the {name}", f"{ms:.2f} ms per SIM ({share})"))
            if naive_sims:
                naive_seconds = await run_naive(stack, sids[measured_end:], in_flight)
                naive_rate = naive_sims / naive_seconds
                figures.append(
                    Figure(
                        f"naive: {naive_sims:,} SIM workflows, {in_flight} in flight",
                        f"{naive_seconds:.1f} s",
                    )
                )
                figures.append(Figure("naive SIMs/s", f"{naive_rate:,.1f}"))
                figures.append(
                    Figure("ratio campaign / naive", f"{campaign_rate / naive_rate:.1f}x")
                )
            stats = await stack.emulator_json("GET", "/_emulator/stats?per_sim=false")
            figures.append(
                Figure("max state-changing writes per SIM", str(stats["max_writes_per_sim"]))
            )


async def rate_limited(sims: int, workers: int, figures: list[Figure]) -> None:
    """A campaign at `--rate 200` against an emulator limited to 200 requests/s, run by
    `workers` worker processes (the rate must hold for all of them together)."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--scheduled-delay", "1", "--rate", "200", "--seed-sims", str(sims)]
        async with process_stack(Path(scratch), args) as stack:
            for _ in range(workers - 1):
                await stack.start_worker()
            sids = await new_sim_sids(stack, sims)
            await stack.emulator_json("POST", "/_emulator/stats/reset")
            elapsed, counts = await run_campaign(stack, "paced", sids, rate=200.0)
            stats = await stack.emulator_json("GET", "/_emulator/stats?per_sim=false")
            by_worker = await activities_by_worker(stack.client)
    total = stats["requests_total"]
    limited = sum(by_status.get("429", 0) for by_status in stats["requests"].values())
    label = f"--rate 200, {workers} worker{'s' if workers > 1 else ''}"
    figures.append(Figure(f"{label}: {sims:,}-SIM campaign", f"{elapsed:.1f} s, {counts}"))
    figures.append(
        Figure(
            f"{label}: requests/s used",
            f"{total / elapsed:.0f} ({total / elapsed / 200:.0%} of 200)",
        )
    )
    figures.append(
        Figure(f"{label}: share answered 429", f"{limited / total:.2%} ({limited} of {total})")
    )
    figures.append(
        Figure(f"{label}: activities run per worker", str(sorted(by_worker.values(), reverse=True)))
    )


async def big(sims: int, figures: list[Figure]) -> None:
    """Peak worker memory and the largest history during a large campaign."""
    with tempfile.TemporaryDirectory() as scratch:
        args = [*THROUGHPUT_EMULATOR, "--seed-sims", str(sims)]
        async with process_stack(Path(scratch), args) as stack:
            sids = await new_sim_sids(stack, sims)
            elapsed, counts = await run_campaign(stack, "big", sids)
            peaks = {name: peak_rss_mib(pid) for name, pid in stack.pids().items()}
            events = await largest_history(stack.client)
    figures.append(
        Figure(
            f"{sims:,}-SIM campaign", f"{elapsed:.1f} s ({sims / elapsed:,.0f} SIMs/s), {counts}"
        )
    )
    for name, peak in peaks.items():
        figures.append(Figure(f"{name} peak RSS, {sims:,}-SIM campaign", f"{peak:.0f} MiB"))
    figures.append(Figure("largest workflow history", f"{events:,} events"))


async def main(args: argparse.Namespace) -> None:
    """Run the scenarios asked for and print the table."""
    # The stack's processes inherit this process's environment, so they run this loop too.
    figures: list[Figure] = [Figure("event loop of the stack", event_loop.loop_name())]
    scenarios: list[Callable[[], Awaitable[None]]] = [
        lambda: throughput(
            args.sims,
            args.runs,
            args.warm_up_sims,
            args.naive_sims,
            args.naive_in_flight,
            figures,
            **({"batch_size": args.batch_size} if args.batch_size else {}),
        ),
    ]
    if args.rate_sims:
        scenarios += [
            functools.partial(rate_limited, args.rate_sims, workers, figures)
            for workers in sorted({1, args.rate_workers})
        ]
    if args.big:
        scenarios.append(lambda: big(args.big, figures))
    for scenario in scenarios:
        await scenario()
    width = max(len(figure.name) for figure in figures)
    for figure in figures:
        print(f"{figure.name:<{width}}  {figure.value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="campaigns of --sims SIMs in a row")
    parser.add_argument(
        "--warm-up-sims", type=int, default=200, help="a campaign before the measured ones"
    )
    parser.add_argument("--batch-size", type=int, help="SIMs per batch (default: the spec's)")
    parser.add_argument("--naive-sims", type=int, default=10_000)
    parser.add_argument("--naive-in-flight", type=int, default=100)
    parser.add_argument("--rate-sims", type=int, default=5_000)
    parser.add_argument(
        "--rate-workers", type=int, default=2, help="also run the --rate scenario on this many"
    )
    parser.add_argument("--big", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
