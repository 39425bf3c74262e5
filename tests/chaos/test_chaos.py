"""The chaos table, CI-sized: every scenario of bench/chaos.py on a few hundred SIMs.

Each scenario runs a real campaign on the stack in separate processes (dev server, emulator,
ingress, worker) and breaks one thing; every SIM must be accounted for exactly once, none
reported converged that is not, none written more often than its path needs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chaos_scenarios import (
    ChaosResult,
    faults,
    forged_callbacks,
    ingress_down,
    kill_worker,
    migration,
    restart_server,
    run_scenario,
)

SIMS = 300
ROWS_ENDED = re.compile(r"(\d+) rows")
SMALL_BATCHES = {"batch_size": 10, "concurrency": 20}
"""Many small batches, a few in flight at a time (the window is the concurrency over 5): the
campaign's progress, counted as batches end, moves in small steps over several seconds, so
each scenario breaks things while rows are still in progress, not after they all ended."""
DEADLINE = {"deadline_seconds": 15.0, "callback_wait_seconds": 3.0}


def assert_accounted(result: ChaosResult, most_writes: int = 1) -> None:
    assert result.unaccounted == 0, result
    assert result.false_converged == 0, result
    assert result.overwritten == 0, result
    assert result.max_writes_per_sim == most_writes, result


def assert_broken_mid_campaign(result: ChaosResult) -> None:
    """Every break happened while rows were still in progress (each note says how many had
    ended: "... at 100 rows")."""
    ended_at = [int(match[1]) for note in result.notes if (match := ROWS_ENDED.search(note))]
    assert ended_at and len(ended_at) == len(result.notes), result.notes
    assert all(rows < SIMS for rows in ended_at), result.notes


async def test_worker_killed_three_times(tmp_path: Path) -> None:
    result = await run_scenario("kill", tmp_path, SIMS, kill_worker(3), spec_fields=SMALL_BATCHES)

    assert_accounted(result)
    assert result.converged == SIMS
    assert len(result.notes) == 3
    assert_broken_mid_campaign(result)


async def test_worker_killed_three_times_during_a_migration(tmp_path: Path) -> None:
    result = await run_scenario(
        "kill", tmp_path, SIMS, kill_worker(3), workload=migration, spec_fields=SMALL_BATCHES
    )

    # An active SIM is deactivated, moved and reactivated: 3 writes, and never a fourth.
    assert_accounted(result, most_writes=3)
    assert result.converged == SIMS
    assert len(result.notes) == 3
    assert_broken_mid_campaign(result)


async def test_dev_server_killed_and_restarted(tmp_path: Path) -> None:
    result = await run_scenario(
        "server", tmp_path, SIMS, restart_server(), spec_fields=SMALL_BATCHES
    )

    assert_accounted(result)
    assert result.converged == SIMS
    assert_broken_mid_campaign(result)


async def test_ingress_down(tmp_path: Path) -> None:
    result = await run_scenario(
        "ingress",
        tmp_path,
        SIMS,
        ingress_down(5.0),
        spec_fields={**SMALL_BATCHES, "callback_wait_seconds": 3.0},
    )

    assert_accounted(result)
    assert result.converged == SIMS
    assert_broken_mid_campaign(result)


async def test_emulator_faults(tmp_path: Path) -> None:
    result = await run_scenario(
        "faults",
        tmp_path,
        SIMS,
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
    assert result.converged + sum(result.failed.values()) == SIMS
    assert result.converged >= SIMS * 0.9
    assert all("deadline" in reason for reason in result.failed), result.failed


@pytest.mark.parametrize("stuck_rate", [0.1])
async def test_forged_and_lying_callbacks(tmp_path: Path, stuck_rate: float) -> None:
    async def stuck_then_attack(stack, handle, sims):  # type: ignore[no-untyped-def]
        notes = await faults(stuck_rate=stuck_rate)(stack, handle, sims)
        return notes + await forged_callbacks(10)(stack, handle, sims)

    result = await run_scenario("forged", tmp_path, SIMS, stuck_then_attack, spec_fields=DEADLINE)

    assert_accounted(result)
    assert sum(result.failed.values()) > 0
    assert all("deadline" in reason for reason in result.failed)
    answered = " ".join(result.notes)
    assert "forged-url 403" in answered and "bad-signature 403" in answered
