"""Account migration throughput, and the writes each SIM got.

    .venv/bin/python -m bench.migration_bench [--new 5000] [--active 1000]

Everything local and in separate processes (Temporal dev server, emulator with one child account
and the inactive-move beta, `--scheduled-delay 1 --max-concurrency 100`, `simops callbacks`,
`simops worker`). Setup activates `--active` SIMs with a campaign; then one migration moves
them (deactivate first, move, reactivate) together with `--new` new SIMs from the parent to the
child. Prints SIMs/s from start to the last SIM verified, and the state-changing writes each
SIM got from the emulator's counters: 1 for a new SIM (the move), 3 for an active one
(deactivate, move, reactivate), never more.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec, MigrationSpec
from simops.clients.campaigns import start_campaign
from simops.core.sim import SimStatus
from simops.messages import CampaignResult
from simops.supersim.client import SuperSimClient
from tests.helpers.process_stack import ProcessStack, process_stack

EMULATOR_MAX_CONCURRENCY = 100
EMULATOR = [
    "--scheduled-delay",
    "1",
    "--max-concurrency",
    str(EMULATOR_MAX_CONCURRENCY),
    "--child-accounts",
    "1",
    "--inactive-move-beta",
]
PATH_WRITES = {"new": 1, "active": 3}
"""The state-changing writes each path needs."""


async def run(stack: ProcessStack, spec: CampaignSpec, sids: list[str]) -> CampaignResult:
    """Run a campaign over `sids` from a file until it ends."""
    source = stack.directory / f"{spec.campaign_id}.csv"
    source.write_text("".join(f"{sid}\n" for sid in sids))
    handle = await start_campaign(stack.client, stack.settings, spec, source)
    result = await handle.result()
    if result.phase != CampaignPhase.COMPLETED:
        raise SystemExit(f"{spec.campaign_id} ended {result.phase}: {result.stop_reason}")
    return result


async def bench(new: int, active: int) -> None:
    """Activate `active` SIMs, then migrate them with `new` new ones; print the figures."""
    with tempfile.TemporaryDirectory() as scratch:
        args = [*EMULATOR, "--seed-sims", str(new + active)]
        async with process_stack(Path(scratch), args) as stack:
            parent = stack.emulator.parent
            child = stack.emulator.accounts[1].account_sid
            async with SuperSimClient.from_settings(stack.settings) as api:
                sids = [sim.sid async for sim in api.list_sims(status=SimStatus.NEW)]
            active_sids, new_sids = sids[:active], sids[active : active + new]
            activation = CampaignSpec(
                campaign_id="setup",
                action=CampaignAction.ACTIVATE,
                source=CampaignSource(file_name="setup.csv"),
                fleet=parent.fleets[0],
                concurrency=EMULATOR_MAX_CONCURRENCY,
            )
            await run(stack, activation, active_sids)
            await stack.emulator_json("POST", "/_emulator/stats/reset")
            migration = CampaignSpec(
                campaign_id="migration",
                action=CampaignAction.MOVE,
                source=CampaignSource(file_name="migration.csv"),
                concurrency=EMULATOR_MAX_CONCURRENCY,
                migration=MigrationSpec(
                    to_account=child,
                    fleet_map={"default": "default"},
                    deactivate_first=True,
                    reactivate=True,
                ),
            )
            started = time.perf_counter()
            result = await run(stack, migration, new_sids + active_sids)
            elapsed = time.perf_counter() - started
            stats = await stack.emulator_json("GET", "/_emulator/stats")
    per_sim: dict[str, int] = stats["state_changing_writes"]["per_sim"]
    paths = {"new": new_sids, "active": active_sids}
    total = new + active
    print(f"migration of {new:,} new + {active:,} active SIMs, parent -> child")
    print(f"  outcomes: {result.counts}")
    print(f"  {elapsed:.1f} s, {total / elapsed:,.0f} SIMs/s (start to last SIM verified)")
    for path, path_sids in paths.items():
        writes = Counter(per_sim.get(sid, 0) for sid in path_sids)
        verdict = "as needed" if set(writes) == {PATH_WRITES[path]} else "NOT as needed"
        shown = ", ".join(f"{count:,} SIMs x {n}" for n, count in sorted(writes.items()))
        print(f"  {path}: writes per SIM {shown} ({verdict}: {PATH_WRITES[path]})")
    print(
        f"  state-changing writes {stats['state_changing_writes']['total']:,}, "
        f"max per SIM {stats['max_writes_per_sim']}, requests {stats['requests_total']:,}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--new", type=int, default=5_000)
    parser.add_argument("--active", type=int, default=1_000)
    options = parser.parse_args()
    asyncio.run(bench(options.new, options.active))
