"""The CPU guard: a 10,000-SIM activation campaign's CPU per SIM, by process, against the
figures committed in `bench/baseline.json`.

    make bench                                   # = .venv/bin/python -m bench.guard
    .venv/bin/python -m bench.guard [--sims 10000] [--runs 3] [--write-baseline]

The stack is the one `bench.campaign_bench` measures throughput on (dev server, emulator with
`--scheduled-delay 1 --max-concurrency 100`, `simops callbacks`, one `simops worker`, each its
own process). CPU per SIM is compared, not wall time: it is steadier from run to run on a
shared machine. A process more than 15% above its baseline is flagged, and the command exits 1.
Run it whenever the campaign, client, store or emulator code changes, and put what it printed in
the commit message; `--write-baseline` records a new baseline (commit it with the reason).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.campaign_bench import (
    THROUGHPUT_EMULATOR,
    WHOLE_STACK,
    Throughput,
    measure_throughput,
    new_sim_sids,
)
from tests.helpers.process_stack import process_stack

BASELINE = Path(__file__).with_name("baseline.json")
TOLERANCE = 0.15
"""How far above its baseline a process's CPU per SIM may be before the guard flags it."""


async def measure(sims: int, runs: int, warm_up_sims: int) -> Throughput:
    """`runs` campaigns of `sims` SIMs on a fresh stack, after a warm-up campaign."""
    seed = warm_up_sims + sims * runs
    with tempfile.TemporaryDirectory() as scratch:
        arguments = [*THROUGHPUT_EMULATOR, "--seed-sims", str(seed)]
        async with process_stack(Path(scratch), arguments) as stack:
            sids = await new_sim_sids(stack, seed)
            return await measure_throughput(stack, sids, sims, runs, warm_up_sims)


def commit() -> str:
    """The commit measured (with `+` when the tree has changes)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], check=False).returncode != 0
    return f"{head}+" if dirty else head


def compare(measured: dict[str, float], baseline: dict[str, float]) -> list[str]:
    """One line per process, measured beside the baseline; `FLAGGED` where more than
    `TOLERANCE` above it. Returns the flagged processes' names."""
    flagged: list[str] = []
    width = max(len(name) for name in measured)
    print(f"{'process':<{width}}  {'ms/SIM':>7}  {'baseline':>8}  change")
    for name, ms in measured.items():
        base = baseline.get(name)
        if base is None:
            print(f"{name:<{width}}  {ms:7.3f}  {'-':>8}  (no baseline)")
            continue
        change = ms / base - 1
        mark = ""
        if change > TOLERANCE:
            mark = f"  FLAGGED: more than {TOLERANCE:.0%} above the baseline"
            flagged.append(name)
        print(f"{name:<{width}}  {ms:7.3f}  {base:8.3f}  {change:+.1%}{mark}")
    return flagged


def main() -> int:
    """Measure, print beside the baseline, and flag regressions (or record a new baseline)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm-up-sims", type=int, default=200)
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args()
    measured = asyncio.run(measure(args.sims, args.runs, args.warm_up_sims))
    cpu = measured.cpu_ms_per_sim()
    rate = statistics.median(measured.rates)
    print(
        f"{args.runs} campaigns of {args.sims:,} SIMs at {commit()}: median {rate:,.0f} SIMs/s "
        f"(runs: {', '.join(f'{r:,.0f}' for r in measured.rates)})"
    )
    if args.write_baseline:
        baseline_cpu = {name: round(ms, 3) for name, ms in cpu.items()}
        record = {
            "commit": commit(),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {platform.python_version()}",
            "command": "python -m bench.guard "
            f"--sims {args.sims} --runs {args.runs} --warm-up-sims {args.warm_up_sims}",
            "sims_per_second": round(rate, 1),
            "cpu_ms_per_sim": baseline_cpu,
        }
        BASELINE.write_text(json.dumps(record, indent=2) + "\n")
        print(f"baseline written to {BASELINE}")
        compare(cpu, baseline_cpu)
        return 0
    if not BASELINE.is_file():
        print(f"no baseline at {BASELINE}: run with --write-baseline first", file=sys.stderr)
        return 2
    baseline = json.loads(BASELINE.read_text())
    print(f"baseline: {baseline['commit']}, {baseline['measured_at']}")
    flagged = compare(cpu, baseline["cpu_ms_per_sim"])
    if flagged:
        print(f"flagged: {', '.join(flagged)}", file=sys.stderr)
        return 1
    print(f"no process more than {TOLERANCE:.0%} above its baseline ({WHOLE_STACK} included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
