"""Migrations that leave no SIM worse than found: what a refused one writes, and the downtime.

    .venv/bin/python -m bench.migration_safety_bench [--sims 1000]

Everything local and in separate processes (tests/helpers/process_stack.py), the emulator
with one child account and `--scheduled-delay 1 --max-concurrency 100`. Both migrations move
`--sims` active SIMs (activated by a campaign of their own first) from the parent to the child with
`--deactivate-first --reactivate --default-fleet default`, the spec built as `simops migrate
start` builds it (so with its default canary of 10 SIMs):

1. Without the inactive-move beta, every move is refused (83010) and the migration must stop.
   Prints the SIMs that received any state-changing write (from the emulator's per-SIM write
   log), the SIMs out of service at the end (every SIM read back; must be 0) and the seconds
   from the start to `stopped`.
2. With the beta, p50/p99/max of the report's `out_of_service_seconds` (deactivation to
   reactivation, per SIM) next to the emulator's scheduled delay: a SIM is out of service for
   at least the delay of its reactivation.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from simops.campaigns.reports import describe_out_of_service, out_of_service_summary
from simops.campaigns.store.campaign_store import CampaignStore
from tests.helpers.chaos_scenarios import (
    ChaosResult,
    Workload,
    active_migration,
    migration_without_beta,
    run_scenario,
    untouched,
)
from tests.helpers.process_stack import campaign_dir

SCHEDULED_DELAY_SECONDS = 1
EMULATOR = ["--scheduled-delay", str(SCHEDULED_DELAY_SECONDS), "--max-concurrency", "100"]
LIMIT_SECONDS = 1800.0


async def _migrate(directory: Path, sims: int, workload: Workload) -> ChaosResult:
    result = await run_scenario(
        "migration",
        directory,
        sims,
        untouched(),
        workload=workload,
        emulator_args=EMULATOR,
        limit_seconds=LIMIT_SECONDS,
    )
    if not result.passed:
        raise SystemExit("; ".join(result.problems()))
    return result


async def bench(sims: int) -> None:
    """Run both migrations and print their figures."""
    with tempfile.TemporaryDirectory(prefix="simops-bench-") as scratch:
        stopped = await _migrate(Path(scratch), sims, migration_without_beta)
    counts = stopped.accounting
    print(f"{sims:,} active SIMs, --deactivate-first --reactivate, without the beta:")
    print(f"  ended {stopped.phase}: {stopped.stop_reason}")
    print(f"  SIMs that received any write: {counts.sims_written:,} (canary 10)")
    print(f"  SIMs out of service at the end: {counts.out_of_service:,} (of {sims:,} read back)")
    print(f"  {stopped.seconds:.1f} s from the start to {stopped.phase}")

    with tempfile.TemporaryDirectory(prefix="simops-bench-") as scratch:
        moved = await _migrate(Path(scratch), sims, active_migration)
        with CampaignStore.open(campaign_dir(Path(scratch)), moved.campaign_id) as store:
            downtime = out_of_service_summary(store.out_of_service_seconds())
    print(f"{sims:,} active SIMs, --deactivate-first --reactivate, with the beta:")
    print(f"  ended {moved.phase} in {moved.seconds:.1f} s: {moved.accounting.converged:,} moved")
    print(
        f"  {describe_out_of_service(downtime)} "
        f"(emulator scheduled delay {SCHEDULED_DELAY_SECONDS} s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=1_000)
    asyncio.run(bench(parser.parse_args().sims))
