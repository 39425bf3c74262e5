"""The chaos table: campaigns that survive crashes, outages, faults and forged callbacks.

    .venv/bin/python -m bench.chaos [--sims 20000] [--only-machines]    (or: make chaos)

Each scenario runs a campaign on the local stack in separate processes and breaks one thing
while it runs: an activation, or an account migration (a third of its SIMs active, or all of
them on an account without the inactive-move beta, which must stop). The last runs on two
workers as on machines of their own, which share one PostgreSQL database (a `pgserver`
wheel's) and no file, the campaign started and reported with the CLI from a third directory,
and SIGKILLs the worker running a batch for good. Columns: SIMs in, how the
campaign ended, converged (written by it), already converged, failed (with reasons), unaccounted
for (must be 0), reported converged but not where they should be (must be 0), SIMs written
(from the emulator's per-SIM write log), the most state-changing writes any SIM got (an
activation needs 1, a migration 1 for a new SIM and 3 for an active one), SIMs written more than
their path needs (must be 0), SIMs whose report disagrees with the write log (written but
`already_converged`, `writes` other than the emulator's count, or `converged` unwritten: must be
0), SIMs written that a rollback would miss (must be 0), SIMs out of service at the end (must
be 0) and wall time. A scenario that fails prints its campaign's counts and its process logs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from simops.campaigns.store.backends import PostgresStores, StoreBackend
from simops.clients.campaigns import CampaignHandle
from tests.helpers.chaos_scenarios import (
    ChaosResult,
    Scenario,
    activation,
    diagnostics,
    faults,
    forged_callbacks,
    ingress_down,
    kill_busy_worker,
    kill_worker,
    migration,
    migration_without_beta,
    restart_server,
    run_on_machines,
    run_scenario,
    terminate_batch,
    untouched,
)
from tests.helpers.postgres_server import fresh_database, postgres_server
from tests.helpers.process_stack import ProcessStack


async def run_all(
    sims: int,
    ingress_seconds: float,
    deadline: float,
    limit_seconds: float,
    only_machines: bool = False,
) -> list[ChaosResult]:
    """Every scenario of the table, one after another, each within `limit_seconds` (with
    `only_machines`, the two machines on PostgreSQL alone)."""
    plan = [
        ("worker SIGKILLed 3 times", sims, kill_worker(3), {}, activation),
        ("migration, worker SIGKILLed 3 times", sims // 2, kill_worker(3), {}, migration),
        (
            "migration of active SIMs without the inactive-move beta",
            sims // 20,
            untouched(),
            {},
            migration_without_beta,
        ),
        ("batch child workflow terminated", sims // 2, terminate_batch(), {}, activation),
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
    for name, count, scenario, spec_fields, workload in [] if only_machines else plan:
        run = functools.partial(
            run_scenario,
            name,
            sims=count,
            scenario=scenario,
            workload=workload,
            spec_fields=spec_fields,
            limit_seconds=limit_seconds,
        )
        results.append(await _run_and_print(name, run))
    with (
        tempfile.TemporaryDirectory(prefix="simops-pg-") as scratch,
        postgres_server(Path(scratch) / "data") as server,
        fresh_database(server, "chaos") as url,
    ):
        name = "two machines on one PostgreSQL, a busy worker SIGKILLed"
        run = functools.partial(
            run_on_machines,
            name,
            sims=sims // 2,
            scenario=kill_busy_worker(),
            database_url=url,
            limit_seconds=limit_seconds,
        )
        results.append(await _run_and_print(name, run, PostgresStores(url)))
    return results


async def _run_and_print(
    name: str,
    run: Callable[[Path], Awaitable[ChaosResult]],
    stores: StoreBackend | None = None,
) -> ChaosResult:
    """Run one scenario in a directory of its own (`run(directory)`), print its line of the
    table, and what it left when it failed (its campaigns' counts from `stores`)."""
    with tempfile.TemporaryDirectory(prefix="simops-chaos-") as scratch:
        try:
            result = await run(Path(scratch))
        except Exception as error:
            print(f"{name}: {error}\n{diagnostics(Path(scratch), stores)}", flush=True)
            raise
        print(render([result], header=False), flush=True)
        if not result.passed:
            print("; ".join(result.problems()), diagnostics(Path(scratch), stores), sep="\n")
        return result


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
            "| scenario | SIMs in | ended | converged | already converged | failed (reason) "
            "| unaccounted | falsely converged | SIMs written | max writes per SIM "
            "| written more than needed | report vs write log | missed by rollback "
            "| out of service | wall time |",
            "| --- " * 15 + "|",
        ]
    for result in results:
        counts = result.accounting
        reasons = "; ".join(f"{count} {reason}" for reason, count in counts.failed.items())
        failed = f"{sum(counts.failed.values())}" + (f" ({reasons})" if reasons else "")
        lines.append(
            f"| {result.scenario} | {result.sims:,} | {result.phase} | {counts.converged:,} "
            f"| {counts.already_converged:,} | {failed} | {counts.unaccounted} "
            f"| {counts.false_converged} | {counts.sims_written:,} | {counts.max_writes_per_sim} "
            f"| {counts.overwritten} | {counts.report_mismatches()} | {counts.rollback_missed} "
            f"| {counts.out_of_service} | {result.seconds:.0f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the table and say whether every scenario passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=20_000)
    parser.add_argument("--ingress-down-seconds", type=float, default=60.0)
    parser.add_argument("--deadline-seconds", type=float, default=120.0)
    parser.add_argument(
        "--only-machines",
        action="store_true",
        help="Only the two machines sharing one PostgreSQL (on half of --sims).",
    )
    parser.add_argument(
        "--limit-seconds",
        type=float,
        default=1800.0,
        help="Each scenario's deadline: past it, the scenario fails and shows its logs.",
    )
    args = parser.parse_args()
    results = asyncio.run(
        run_all(
            args.sims,
            args.ingress_down_seconds,
            args.deadline_seconds,
            args.limit_seconds,
            args.only_machines,
        )
    )
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
