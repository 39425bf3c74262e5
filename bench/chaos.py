"""The chaos table: campaigns that survive crashes, outages, faults and forged callbacks.

    .venv/bin/python bench/chaos.py [--sims 20000] [--scale 1.0]    (or: make chaos)

Each scenario runs a campaign on the local stack in separate processes and breaks one thing
while it runs: an activation, or an account migration (a third of its SIMs active). Columns:
SIMs in, converged, failed (with reasons), unaccounted for (must be 0), reported converged but
not where they should be (must be 0), the most state-changing writes any SIM got (from the
emulator; an activation needs 1, a migration 1 for a new SIM and 3 for an active one), SIMs
written more than their path needs (must be 0) and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from chaos_scenarios import (
    ChaosResult,
    Scenario,
    activation,
    faults,
    forged_callbacks,
    ingress_down,
    kill_worker,
    migration,
    restart_server,
    run_scenario,
)
from processes import ProcessStack

from simops.operations import CampaignHandle


async def run_all(sims: int, ingress_seconds: float, deadline: float) -> list[ChaosResult]:
    """Every scenario of the table, one after another."""
    plan = [
        ("worker SIGKILLed 3 times", sims, kill_worker(3), {}, activation),
        ("migration, worker SIGKILLed 3 times", sims // 2, kill_worker(3), {}, migration),
        ("dev server killed and restarted", sims // 2, restart_server(), {}, activation),
        (
            f"ingress down {ingress_seconds:g} s",
            sims // 2,
            ingress_down(ingress_seconds),
            {},
            activation,
        ),
        (
            "faults: 10% 500, 5% 429, 30% dropped, 10% duplicated, 1% stuck",
            sims // 2,
            faults(
                error_rate=0.1,
                rate_limit_rate=0.05,
                drop_callback_rate=0.3,
                duplicate_callback_rate=0.1,
                stuck_rate=0.01,
            ),
            {"deadline_seconds": deadline, "callback_wait_seconds": 10.0},
            activation,
        ),
        (
            "forged, replayed and lying callbacks (2% stuck)",
            sims // 10,
            _with_stuck(forged_callbacks(20)),
            {"deadline_seconds": deadline, "callback_wait_seconds": 10.0},
            activation,
        ),
    ]
    results = []
    for name, count, scenario, spec_fields, workload in plan:
        with tempfile.TemporaryDirectory(prefix="simops-chaos-") as scratch:
            results.append(
                await run_scenario(
                    name,
                    Path(scratch),
                    count,
                    scenario,
                    workload=workload,
                    spec_fields=spec_fields,
                )
            )
            print(render([results[-1]], header=False), flush=True)
    return results


def _with_stuck(scenario: Scenario) -> Scenario:
    stuck = faults(stuck_rate=0.02)

    async def both(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        return [*(await stuck(stack, handle, sims)), *(await scenario(stack, handle, sims))]

    return both


def render(results: list[ChaosResult], *, header: bool = True) -> str:
    """The results as a Markdown table."""
    lines = []
    if header:
        lines += [
            "| scenario | SIMs in | converged | failed (reason) | unaccounted | falsely converged "
            "| max writes per SIM | written more than needed | wall time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    for result in results:
        reasons = "; ".join(f"{count} {reason}" for reason, count in result.failed.items())
        failed = f"{sum(result.failed.values())}" + (f" ({reasons})" if reasons else "")
        lines.append(
            f"| {result.scenario} | {result.sims:,} | {result.converged:,} | {failed} "
            f"| {result.unaccounted} | {result.false_converged} | {result.max_writes_per_sim} "
            f"| {result.overwritten} | {result.seconds:.0f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the table and say whether every scenario passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=20_000)
    parser.add_argument("--ingress-down-seconds", type=float, default=60.0)
    parser.add_argument("--deadline-seconds", type=float, default=120.0)
    args = parser.parse_args()
    results = asyncio.run(run_all(args.sims, args.ingress_down_seconds, args.deadline_seconds))
    print()
    print(render(results))
    for result in results:
        for note in result.notes:
            print(f"- {result.scenario}: {note}")
    passed = all(result.passed for result in results)
    print("all scenarios passed" if passed else "SOME SCENARIOS FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
