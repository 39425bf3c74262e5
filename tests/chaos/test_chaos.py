"""The chaos table, CI-sized: every scenario of bench/chaos.py on a few hundred SIMs.

Each scenario runs a real campaign on the stack in separate processes (dev server, emulator,
ingress, worker) and breaks one thing; every SIM must be accounted for exactly once, none
reported converged that is not, none written more often than its path needs, and each SIM's
report must match the emulator's write log (`ChaosResult.problems`). Every scenario has a
deadline below pytest-timeout's; a failing one shows its campaign's counts and the end of each
process log (conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.chaos_scenarios import (
    ChaosResult,
    Scenario,
    Workload,
    activation,
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
from tests.helpers.machines import OPERATOR
from tests.helpers.process_stack import campaign_dir

SIMS = 300
ROWS_ENDED = re.compile(r"(\d+) rows")
SMALL_BATCHES: dict[str, object] = {
    "batch_size": 10,
    "concurrency": 20,
    "callback_wait_seconds": 5.0,
}
"""Many small batches, a few in flight at a time (the window is the concurrency over 5): the
campaign's progress, counted as batches end, moves in small steps over several seconds, so
each scenario breaks things while rows are still in progress, not after they all ended. A batch
polls for callbacks that did not come after 5 s, not the default 2 minutes: a callback lost
while something is broken (the ingress or the dev server down, a terminated batch's SIMs
calling the dead batch) costs seconds, and the scenario stays well within its deadline."""
DEADLINE: dict[str, object] = {"deadline_seconds": 30.0, "callback_wait_seconds": 3.0}
LIMIT_SECONDS = 230.0
"""Each scenario's own deadline, the stack's start included: below pytest-timeout's 300 s with
room to stop the stack, so a stuck scenario fails saying what it waited for, and stops its
processes, instead of being killed by pytest-timeout."""


async def run(
    name: str,
    tmp_path: Path,
    scenario: Scenario,
    workload: Workload = activation,
    spec_fields: dict[str, object] | None = None,
) -> ChaosResult:
    """The scenario on `SIMS` SIMs within `LIMIT_SECONDS`."""
    return await run_scenario(
        name,
        tmp_path,
        SIMS,
        scenario,
        workload=workload,
        spec_fields=spec_fields,
        limit_seconds=LIMIT_SECONDS,
    )


def assert_accounted(result: ChaosResult, most_writes: int = 1) -> None:
    """Every check of the chaos table holds, and some SIM got `most_writes` writes, none more.

    Messages stay one short line: a failure report must never be huge."""
    problems = result.problems()
    assert not problems, "; ".join(problems)
    most = result.accounting.max_writes_per_sim
    assert most == most_writes, f"at most {most} writes per SIM, expected {most_writes}"


def assert_broken_mid_campaign(result: ChaosResult) -> None:
    """Every break happened while rows were still in progress (each note says how many had
    ended: "... at 100 rows")."""
    ended_at = [int(match[1]) for note in result.notes if (match := ROWS_ENDED.search(note))]
    assert ended_at and len(ended_at) == len(result.notes), result.notes
    assert all(rows < result.sims for rows in ended_at), result.notes


async def test_worker_killed_three_times(tmp_path: Path) -> None:
    result = await run("kill", tmp_path, kill_worker(3), spec_fields=SMALL_BATCHES)

    assert_accounted(result)
    assert result.accounting.converged == SIMS
    assert len(result.notes) == 3
    assert_broken_mid_campaign(result)


async def test_worker_killed_three_times_during_a_migration(tmp_path: Path) -> None:
    result = await run("kill", tmp_path, kill_worker(3), migration, SMALL_BATCHES)

    # An active SIM is deactivated, moved and reactivated: 3 writes, and never a fourth. Every
    # SIM written matches the report's writes and is among the rollback's (`problems`).
    assert_accounted(result, most_writes=3)
    assert result.accounting.converged == SIMS
    assert len(result.notes) == 3
    assert_broken_mid_campaign(result)


async def test_migration_without_the_beta_stops_and_leaves_every_sim_in_service(
    tmp_path: Path,
) -> None:
    result = await run("no beta", tmp_path, untouched(), migration_without_beta)

    # Stopped naming 83010, every SIM active again, and no SIM written beyond the canary (10)
    # (`problems`); a canary SIM was deactivated, its move refused, and it was reactivated.
    assert_accounted(result, most_writes=2)
    assert 0 < result.accounting.sims_written <= 10
    assert result.accounting.failed and all(
        "restored" in reason for reason in result.accounting.failed
    ), "a canary SIM failed without being restored"


async def test_batch_child_terminated(tmp_path: Path) -> None:
    result = await run("terminate", tmp_path, terminate_batch(), spec_fields=SMALL_BATCHES)

    # Completed, every row accounted for, and no SIM written twice.
    assert_accounted(result)
    assert result.accounting.converged == SIMS
    assert_broken_mid_campaign(result)


async def test_dev_server_killed_and_restarted(tmp_path: Path) -> None:
    result = await run("server", tmp_path, restart_server(), spec_fields=SMALL_BATCHES)

    assert_accounted(result)
    assert result.accounting.converged == SIMS
    assert_broken_mid_campaign(result)


async def test_ingress_down(tmp_path: Path) -> None:
    result = await run("ingress", tmp_path, ingress_down(5.0), spec_fields=SMALL_BATCHES)

    assert_accounted(result)
    assert result.accounting.converged == SIMS
    assert_broken_mid_campaign(result)


async def test_emulator_faults(tmp_path: Path) -> None:
    result = await run(
        "faults",
        tmp_path,
        faults(
            error_rate=0.1,
            rate_limit_rate=0.05,
            drop_callback_rate=0.3,
            duplicate_callback_rate=0.1,
            stuck_rate=0.03,
        ),
        spec_fields=DEADLINE,
    )

    assert_accounted(result)
    counts = result.accounting
    assert counts.converged + sum(counts.failed.values()) == SIMS
    assert counts.converged >= SIMS * 0.9
    assert all("deadline" in reason for reason in counts.failed), list(counts.failed)[:3]


@pytest.mark.parametrize("stuck_rate", [0.1])
async def test_forged_and_lying_callbacks(tmp_path: Path, stuck_rate: float) -> None:
    async def stuck_then_attack(stack, handle, sims):
        notes = await faults(stuck_rate=stuck_rate)(stack, handle, sims)
        return notes + await forged_callbacks(10)(stack, handle, sims)

    result = await run("forged", tmp_path, stuck_then_attack, spec_fields=DEADLINE)

    assert_accounted(result)
    failed = result.accounting.failed
    assert sum(failed.values()) > 0
    assert all("deadline" in reason for reason in failed), list(failed)[:3]
    answered = " ".join(result.notes)
    assert "forged-url 403" in answered and "bad-signature 403" in answered


MACHINES_SIMS = 3_000
"""Three of the CLI's batches of 1,000, run one at a time (`run_on_machines`): the worker is
killed once the first ended, with the second's writes in flight."""


async def test_two_machines_share_one_postgresql_and_survive_a_killed_worker(
    tmp_path: Path, postgres_url: str
) -> None:
    # Two workers in directories of their own, sharing only the database; the campaign started
    # and reported from a third directory (tests/helpers/machines.py).
    result = await run_on_machines(
        "two machines",
        tmp_path,
        MACHINES_SIMS,
        kill_busy_worker(),
        database_url=postgres_url,
        limit_seconds=LIMIT_SECONDS,
    )

    # Every SIM reported once, as converged, active in the emulator in its Fleet, written once
    # and never reported already_converged: the CLI's report against the write log.
    assert_accounted(result)
    assert result.accounting.converged == MACHINES_SIMS
    assert len(result.notes) == 1
    assert_broken_mid_campaign(result)
    # Nothing went through files: no machine, nor the stack, has a campaign store on disk.
    for directory in (tmp_path, tmp_path / OPERATOR, *tmp_path.glob("machine-*")):
        assert not campaign_dir(directory).exists(), f"{campaign_dir(directory)} was written"
