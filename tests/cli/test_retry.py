"""`simops campaign retry` and `simops migrate retry` on a Temporal dev server and the emulator:
rows that failed for a transient reason converge in a new campaign, each under its original row
number and line, and each SIM's writes are checked against the emulator's write log (what the
API applied, not what simops says it did)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import Result

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec, MigrationSpec
from simops.cli.support import ExitCode
from simops.clients.campaigns import start_campaign
from simops.contract import campaign_workflow_id
from simops.core.sim import SimStatus, SimUpdate
from simops.devstack.in_process import LocalStack
from simops.emulator.lifecycle import STUCK_SECONDS
from simops.messages import CampaignResult
from simops.supersim.resources import Sim
from simops.workflows.campaign import CampaignWorkflow
from tests.cli.conftest import CliStackFactory
from tests.helpers.stacks import invoke_cli, set_faults, writes_per_sim

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def stack(cli_stack: CliStackFactory) -> LocalStack:
    """A worker on an emulator without the inactive-move beta, and an environment where
    `simops` reaches the same Temporal and campaign store."""
    return await cli_stack(seed_sims=16, scheduled_delay=(0.05, 0.2))


@pytest.fixture
def campaign_id() -> str:
    """An ID no other test of the session's Temporal server used."""
    return f"retry-{uuid.uuid4().hex[:10]}"


def refused(result: Result, message: str) -> None:
    """The command was refused with exit 2 and one line holding `message`, no traceback."""
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], result.output


def written_since(before: dict[str, int], after: dict[str, int], sims: Sequence[Sim]) -> list[int]:
    """How many writes the API applied to each SIM between two readings of its log."""
    return [after.get(sim.sid, 0) - before.get(sim.sid, 0) for sim in sims]


async def advance_emulator_clock(stack: LocalStack, seconds: float) -> None:
    """Move the emulator's clock on, completing the updates due by then."""
    url = f"{stack.emulator.root_url}/_emulator/clock"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"advance_seconds": seconds}) as response,
    ):
        assert response.status == 200, await response.text()


async def settled(stack: LocalStack, sid: str, update: SimUpdate) -> None:
    """Apply `update` to the SIM as someone else would, and wait until it is not scheduled."""
    await stack.api.update_sim(sid, update)
    for _ in range(500):
        if (await stack.api.fetch_sim(sid)).status != SimStatus.SCHEDULED:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{sid} stayed scheduled")


async def result_of(stack: LocalStack, campaign_id: str) -> CampaignResult:
    handle = stack.client.get_workflow_handle_for(
        CampaignWorkflow.run, campaign_workflow_id(campaign_id)
    )
    return await handle.result()


async def report(campaign_id: str, *command: str) -> list[dict[str, Any]]:
    """The campaign's report as JSON, through the command line."""
    printed = await invoke_cli(
        *(command or ("campaign",)), "report", campaign_id, "--format", "json"
    )
    assert printed.exit_code == ExitCode.OK, printed.output
    rows: list[dict[str, Any]] = json.loads(printed.stdout)
    return rows


async def test_a_retry_converges_the_rows_that_failed_under_their_own_numbers(
    stack: LocalStack, campaign_id: str, tmp_path: Path
) -> None:
    sims = [sim async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=8)]
    # Rows 3, 6 and 7 name SIMs busy with an update that stays `scheduled` (the emulator's
    # `stuck_rate` fault): the campaign's deadline passes while it waits, and they fail.
    busy = [sims[2], sims[5], sims[6]]
    fleet = stack.emulator.parent.fleets[0]
    await set_faults(stack.emulator, stuck_rate=1.0)
    for sim in busy:
        await stack.api.update_sim(sim.sid, SimUpdate(status=SimStatus.READY, fleet=fleet))
    await set_faults(stack.emulator, stuck_rate=0.0)
    # A blank line: rows and lines are numbered apart (line 1 is the header).
    lines = ["sim", sims[0].sid, sims[1].sid, "", *(sim.sid for sim in sims[2:])]
    source = tmp_path / "sims.csv"
    source.write_text("".join(f"{line}\n" for line in lines))
    spec = CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name=source.name),
        fleet=fleet,
        batch_size=4,
        deadline_seconds=4,
        callback_wait_seconds=1,
    )
    first = await (await start_campaign(stack.client, stack.settings, spec, source)).result()
    first_rows = await report(campaign_id)
    # The busy SIMs' updates end, and one of them is activated by someone else meanwhile.
    await advance_emulator_clock(stack, STUCK_SECONDS + 60)
    await settled(stack, busy[2].sid, SimUpdate(status=SimStatus.ACTIVE, fleet=spec.fleet))
    before = await writes_per_sim(stack.emulator)

    dry_run = await invoke_cli("campaign", "retry", campaign_id, "--dry-run")
    after_dry_run = await writes_per_sim(stack.emulator)
    retried = await invoke_cli("campaign", "retry", campaign_id)
    retry_id = f"{campaign_id}-retry-1"
    second = await result_of(stack, retry_id)
    after = await writes_per_sim(stack.emulator)
    rows = await report(retry_id)
    status = await invoke_cli("campaign", "status", retry_id, "-o", "json")
    next_dry_run = await invoke_cli("campaign", "retry", campaign_id, "--dry-run")

    assert {kind: n for kind, n in first.counts.items() if n} == {"converged": 5, "failed": 3}
    assert [row["row_no"] for row in first_rows if row["outcome"] == "failed"] == [3, 6, 7]
    assert dry_run.exit_code == ExitCode.OK, dry_run.output
    listed = dry_run.output.splitlines()
    assert listed[0] == f"campaign {retry_id} would retry these rows of {campaign_id}:"
    assert [line.split(":")[0].strip() for line in listed[1:4]] == [
        f"row 3 (line 5) {busy[0].sid}",
        f"row 6 (line 8) {busy[1].sid}",
        f"row 7 (line 9) {busy[2].sid}",
    ]
    assert "failed" in listed[1] and "nothing was written" in listed[-1]
    assert after_dry_run == before
    assert retried.exit_code == ExitCode.OK, retried.output
    assert f"started campaign {retry_id}" in retried.output
    assert second.phase == CampaignPhase.COMPLETED
    assert [(row["row_no"], row["line_no"], row["reference"]) for row in rows] == [
        (3, 5, busy[0].sid),
        (6, 8, busy[1].sid),
        (7, 9, busy[2].sid),
    ]
    assert [row["outcome"] for row in rows] == ["converged", "converged", "already_converged"]
    assert {row["retry_of"] for row in rows} == {campaign_id}
    # What the API applied: one write for each SIM the retry converged, none to the others.
    assert written_since(before, after, sims) == [0, 0, 1, 0, 0, 1, 0, 0]
    assert [row["writes"] for row in rows] == [1, 1, 0]
    for sim in sims:
        assert (await stack.api.fetch_sim(sim.sid)).status == SimStatus.ACTIVE
    assert status.exit_code == ExitCode.OK, status.output
    assert json.loads(status.stdout)["retry_of"] == campaign_id
    # The original still has its failed rows; the next retry takes the next free ID.
    assert f"campaign {campaign_id}-retry-2 would retry" in next_dry_run.output


async def test_what_cannot_be_retried_is_refused_in_one_line(
    stack: LocalStack, campaign_id: str, tmp_path: Path
) -> None:
    sims = [sim async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=3)]
    source = tmp_path / "sims.csv"
    source.write_text("".join(f"{sim.sid}\n" for sim in sims[:2]))
    fleet = stack.emulator.parent.fleets[0]
    spec = CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name=source.name),
        fleet=fleet,
    )
    await (await start_campaign(stack.client, stack.settings, spec, source)).result()
    # A campaign that has not ended: its one SIM stays scheduled, and its deadline is far.
    await set_faults(stack.emulator, stuck_rate=1.0)
    running_source = tmp_path / "running.csv"
    running_source.write_text(f"{sims[2].sid}\n")
    running = spec.model_copy(
        update={"campaign_id": f"{campaign_id}-running", "deadline_seconds": 600.0}
    )
    handle = await start_campaign(stack.client, stack.settings, running, running_source)
    try:
        unknown = await invoke_cli("campaign", "retry", f"{campaign_id}-nothing")
        still_running = await invoke_cli("campaign", "retry", running.campaign_id)
        nothing = await invoke_cli("campaign", "retry", campaign_id)
        no_such_code = await invoke_cli("campaign", "retry", campaign_id, "--only-code", "83010")
        used = await invoke_cli("campaign", "retry", campaign_id, "--id", running.campaign_id)
        not_a_migration = await invoke_cli("migrate", "retry", campaign_id)
    finally:
        await handle.signal(CampaignWorkflow.cancel, "test over")

    refused(unknown, f"no campaign {campaign_id}-nothing")
    refused(still_running, f"campaign {running.campaign_id} is still running")
    refused(nothing, f"nothing to retry: no row of campaign {campaign_id} failed")
    refused(no_such_code, f"no row of campaign {campaign_id} failed with code 83010")
    refused(used, f"--id {running.campaign_id} is already used")
    refused(
        not_a_migration,
        f"{campaign_id} is an activate campaign, not a migration: retry it with "
        f"`simops campaign retry {campaign_id}`",
    )


async def test_a_migration_stopped_for_want_of_the_beta_is_retried_once_it_has_it(
    stack: LocalStack, campaign_id: str, tmp_path: Path
) -> None:
    emulator = stack.emulator
    parent = emulator.parent.account_sid
    child = emulator.accounts[1].account_sid
    sims = [sim async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=6)]
    default = next(
        sid
        for sid, fleet in emulator.context.store.accounts[parent].fleets.items()
        if fleet.unique_name == "default"
    )
    await asyncio.gather(
        *(
            settled(stack, sim.sid, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
            for sim in sims
        )
    )
    source = tmp_path / "move.csv"
    source.write_text("".join(f"{sim.sid}\n" for sim in sims))
    spec = CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.MOVE,
        source=CampaignSource(file_name=source.name),
        migration=MigrationSpec(
            to_account=child,
            fleet_map={"default": "default"},
            deactivate_first=True,
            reactivate=True,
        ),
        batch_size=2,
        concurrency=2,
    )
    # Without the inactive-move beta the first move is refused (83010): the migration stops,
    # the SIMs it deactivated are restored (failed, 83010), the others never start (cancelled).
    stopped = await (await start_campaign(stack.client, stack.settings, spec, source)).result()
    first_rows = await report(campaign_id, "migrate")
    failed = [row["row_no"] for row in first_rows if row["outcome"] == "failed"]
    cancelled = [row["row_no"] for row in first_rows if row["outcome"] == "cancelled"]
    emulator.context.store.accounts[parent].inactive_move_beta = True
    before = await writes_per_sim(stack.emulator)

    as_a_campaign = await invoke_cli("campaign", "retry", campaign_id)
    other_code = await invoke_cli("migrate", "retry", campaign_id, "--only-code", "20003")
    dry_run = await invoke_cli("migrate", "retry", campaign_id, "--include-cancelled", "--dry-run")
    after_dry_run = await writes_per_sim(stack.emulator)
    only_failed = await invoke_cli(
        "migrate", "retry", campaign_id, "--only-code", "83010", "--id", f"{campaign_id}-a"
    )
    await result_of(stack, f"{campaign_id}-a")
    after_failed = await writes_per_sim(stack.emulator)
    failed_rows = await report(f"{campaign_id}-a", "migrate")
    with_cancelled = await invoke_cli(
        "migrate", "retry", campaign_id, "--include-cancelled", "--id", f"{campaign_id}-b"
    )
    finished = await result_of(stack, f"{campaign_id}-b")
    after_all = await writes_per_sim(stack.emulator)
    all_rows = await report(f"{campaign_id}-b", "migrate")
    # Rolling back the first retry takes its SIMs back, under the migration's row numbers.
    rolled_back = await invoke_cli("migrate", "rollback", f"{campaign_id}-a")
    await result_of(stack, f"{campaign_id}-a-rollback")
    undo_rows = await report(f"{campaign_id}-a-rollback", "migrate")

    assert stopped.phase == CampaignPhase.STOPPED
    assert failed and cancelled and sorted(failed + cancelled) == list(range(1, 7))
    refused(
        as_a_campaign,
        f"{campaign_id} is a migration: retry it with `simops migrate retry {campaign_id}`",
    )
    refused(other_code, f"no row of migration {campaign_id} failed with code 20003")
    assert dry_run.exit_code == ExitCode.OK, dry_run.output
    assert [int(line.split()[1]) for line in dry_run.output.splitlines()[1:-1]] == list(range(1, 7))
    assert after_dry_run == before
    assert only_failed.exit_code == ExitCode.OK, only_failed.output
    # Deactivate, move, reactivate: three writes to each SIM that had failed, none to others.
    assert written_since(before, after_failed, sims) == [
        3 if row_no in failed else 0 for row_no in range(1, 7)
    ]
    assert [(row["row_no"], row["outcome"], row["retry_of"]) for row in failed_rows] == [
        (row_no, "converged", campaign_id) for row_no in failed
    ]
    assert with_cancelled.exit_code == ExitCode.OK, with_cancelled.output
    assert finished.phase == CampaignPhase.COMPLETED
    # The rows that had failed are in the child already: no write; the cancelled ones move.
    assert [(row["row_no"], row["outcome"]) for row in all_rows] == [
        (row_no, "converged" if row_no in cancelled else "already_converged")
        for row_no in range(1, 7)
    ]
    assert written_since(after_failed, after_all, sims) == [
        3 if row_no in cancelled else 0 for row_no in range(1, 7)
    ]
    assert rolled_back.exit_code == ExitCode.OK, rolled_back.output
    assert [(row["row_no"], row["outcome"]) for row in undo_rows] == [
        (row_no, "converged") for row_no in failed
    ]
    for row_no, sim in enumerate(sims, start=1):
        current = await stack.api.fetch_sim(sim.sid)
        home = parent if row_no in failed else child
        assert (current.account_sid, current.status) == (home, SimStatus.ACTIVE)
