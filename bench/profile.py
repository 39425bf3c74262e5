"""Where a 10,000-SIM activation campaign's CPU goes, by process and by function.

    make profile                                 # = .venv/bin/python -m bench.profile
    .venv/bin/python -m bench.profile [--sims 10000] [--rate 250] [--top 15] [--out profiles]

The stack is the guard's (`bench.guard`: dev server, emulator with `--scheduled-delay 1
--max-concurrency 100`, `simops callbacks`, one `simops worker`, each its own process). After a
warm-up campaign, py-spy samples every Python process of the stack (`--nonblocking`: it reads
their memory without stopping them, so the profile costs them nothing) while one campaign runs.
The Temporal dev server is Go: py-spy cannot sample it, so its CPU is set beside the requests it
served meanwhile, by operation (`service_requests` of its own /metrics).

Each process's measured CPU per SIM is split over its functions in proportion to py-spy's
samples, which counts where a thread was on the CPU (idle threads are left out). Printed: per
process, the functions with the most CPU of their own ("self") and the most CPU under them
("total"), in µs per SIM. Written to `--out`: each process's collapsed stacks
(`PROCESS.folded`, one line per stack with its count; `flamegraph.pl`, speedscope.app and
`inferno` read it) and the tables printed (`profile.md`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.campaign_bench import (
    THROUGHPUT_EMULATOR,
    WHOLE_STACK,
    measure_throughput,
    new_sim_sids,
    run_campaign,
)
from tests.helpers.process_stack import process_stack

PY_SPY = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy"
TEMPORAL = "Temporal dev server"
GO_PROCESSES = {TEMPORAL}
"""Processes py-spy cannot sample: they are measured by their CPU (and the dev server by the
requests it served)."""
IDLE_FRAMES = {"_worker (concurrent/futures/thread.py)"}
"""Leaf frames of a thread waiting for work (py-spy's idle test does not see them as idle)."""
ROOT = Path(__file__).resolve().parents[1]
ENTRY_SHARE = 0.5
"""simops functions under more than this share of a process's samples are its entry points
(the command, the event loop's `run`): left out of the "total" table, which they would fill."""


@dataclass
class Profile:
    """One process's samples: collapsed stacks and their counts."""

    process: str
    stacks: Counter[str]

    @property
    def samples(self) -> int:
        """Samples taken while a thread of the process was on the CPU."""
        return sum(self.stacks.values())

    def by_function(self) -> tuple[Counter[str], Counter[str]]:
        """Samples per function: with the function at the top of the stack ("self"), and, for
        simops' own functions, with it anywhere in the stack, counted once per stack ("total").
        A thread pool's idle thread, waiting for work, is left out."""
        own: Counter[str] = Counter()
        under: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            frames = [function_name(frame) for frame in stack.split(";") if frame]
            if not frames or frames[-1] in IDLE_FRAMES:
                continue
            own[frames[-1]] += count
            for name in set(frames):
                if name.endswith(".py)") and "(simops/" in name:
                    under[name] += count
        entry = ENTRY_SHARE * sum(own.values())
        return own, Counter({name: n for name, n in under.items() if n <= entry})


def function_name(frame: str) -> str:
    """`function (path/to/module.py)` of a py-spy frame, without its line number, and the
    path shortened to the package it belongs to."""
    function, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", f"{ROOT}/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{function} ({path})"


def read_folded(path: Path, process: str) -> Profile:
    """A py-spy `--format raw` file: `frame;frame;… count` per line."""
    stacks: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] += int(count)
    return Profile(process, stacks)


async def record(pid: int, output: Path, rate: int) -> asyncio.subprocess.Process:
    """Start py-spy sampling `pid` (and its threads) into `output` until it is interrupted."""
    return await asyncio.create_subprocess_exec(
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def temporal_requests(metrics_port: int) -> Counter[tuple[str, str]]:
    """The requests the Temporal dev server's services (frontend, history, matching) have
    served since it started, by service and operation (its `service_requests` counter)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        text = page.read().decode()
    served: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "service_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                served[labels.get("service_name", "?"), labels.get("operation", "?")] += int(
                    sample.value
                )
    return served


def requests_table(
    served: Counter[tuple[str, str]], cpu_ms_per_sim: float, sims: int, top: int
) -> list[str]:
    """The dev server's requests per 1,000 SIMs by service and operation; its CPU per request
    its clients (the worker, the ingress, the benchmark) sent to its frontend."""
    from_clients = sum(count for (service, _), count in served.items() if service == "frontend")
    per_request = cpu_ms_per_sim * sims / max(from_clients, 1)
    lines = [
        f"### {TEMPORAL}: {cpu_ms_per_sim:.3f} ms per SIM; {from_clients:,} requests from its "
        f"clients ({from_clients * 1000 / sims:.0f} per 1,000 SIMs), {per_request:.2f} ms of its "
        "CPU each",
        "",
        "| requests per 1,000 SIMs | service | operation |",
        "| ---: | --- | --- |",
    ]
    for (service, operation), count in served.most_common(top):
        lines.append(f"| {count * 1000 / sims:.1f} | {service} | `{operation}` |")
    return lines


def table(profile: Profile, cpu_ms_per_sim: float, top: int) -> list[str]:
    """The process's `top` functions by self and by total CPU, in µs per SIM."""
    own, under = profile.by_function()
    microseconds = cpu_ms_per_sim * 1000 / max(profile.samples, 1)
    lines = [
        f"### {profile.process}: {cpu_ms_per_sim:.3f} ms per SIM ({profile.samples:,} samples)",
        "",
        "| self µs/SIM | function | | total µs/SIM | function |",
        "| ---: | --- | --- | ---: | --- |",
    ]
    for (own_name, own_count), (under_name, under_count) in zip(
        own.most_common(top), under.most_common(top), strict=False
    ):
        lines.append(
            f"| {own_count * microseconds:.1f} | `{own_name}` | | "
            f"{under_count * microseconds:.1f} | `{under_name}` |"
        )
    return lines


async def profile_campaign(args: argparse.Namespace) -> list[str]:
    """Run the warm-up and the profiled campaign; the report's lines."""
    args.out.mkdir(parents=True, exist_ok=True)
    seed = args.warm_up_sims + args.sims
    with tempfile.TemporaryDirectory() as scratch:
        arguments = [*THROUGHPUT_EMULATOR, "--seed-sims", str(seed)]
        async with process_stack(Path(scratch), arguments) as stack:
            sids = await new_sim_sids(stack, seed)
            await run_campaign(stack, "warm-up", sids[: args.warm_up_sims])
            outputs = {
                name: args.out / f"{name.replace(' ', '-')}.folded"
                for name in stack.pids()
                if name not in GO_PROCESSES
            }
            recorders = {
                name: await record(stack.pids()[name], output, args.rate)
                for name, output in outputs.items()
            }
            metrics_port = stack.temporal_options.metrics_port
            assert metrics_port is not None, "the benchmarks' stack gives the dev server one"
            served_before = temporal_requests(metrics_port)
            measured = await measure_throughput(stack, sids[args.warm_up_sims :], args.sims, 1, 0)
            served = temporal_requests(metrics_port)
            served.subtract(served_before)
            for recorder in recorders.values():
                recorder.send_signal(signal.SIGINT)
            for name, recorder in recorders.items():
                _, errors = await asyncio.wait_for(recorder.communicate(), 60)
                if recorder.returncode not in (0, -signal.SIGINT):
                    raise SystemExit(f"py-spy on {name}: {errors.decode(errors='replace')}")
    cpu = measured.cpu_ms_per_sim()
    elapsed, counts = measured.runs[0]
    lines = [
        f"{args.sims:,}-SIM activation campaign: {elapsed:.1f} s, "
        f"{measured.rates[0]:,.0f} SIMs/s, {counts}",
        "",
        "| process | CPU ms per SIM |",
        "| --- | ---: |",
        *(f"| {name} | {ms:.3f} |" for name, ms in cpu.items()),
    ]
    lines += ["", *requests_table(+served, cpu[TEMPORAL], args.sims, args.top)]
    for name, output in outputs.items():
        lines += ["", *table(read_folded(output, name), cpu[name], args.top)]
    lines += ["", f"{WHOLE_STACK}: {cpu[WHOLE_STACK]:.3f} ms per SIM"]
    return lines


def main() -> None:
    """Parse the options, profile, print and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--warm-up-sims", type=int, default=200)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=15, help="functions per table")
    parser.add_argument("--out", type=Path, default=Path("profiles"))
    args = parser.parse_args()
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: run `make install` (py-spy is a dev dependency)")
    lines = asyncio.run(profile_campaign(args))
    report = "\n".join(lines) + "\n"
    print(report, end="")
    (args.out / "profile.md").write_text(report)
    print(f"\nwritten: {args.out}/profile.md and one .folded file per process")


if __name__ == "__main__":
    main()
