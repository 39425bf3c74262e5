"""Starting a campaign ID that exists, as an operator does (`simops campaign start`, `simops
migrate start`): the same spec attaches, another spec is refused naming what differs, and
nothing ever runs a spec the user did not give."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import Result

from simops.campaigns.identity import with_file_sha256
from simops.campaigns.spec import CampaignAction, CampaignSpec
from simops.campaigns.store.campaign_store import CampaignStore
from simops.cli.support import ExitCode
from simops.clients.campaigns import campaign_status
from simops.contract import campaign_workflow_id
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack
from simops.messages import CampaignRunInput
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.campaigns import command_line_spec
from tests.helpers.stacks import (
    campaign_test_stack,
    emulator_stats,
    invoke_cli,
    reach_from_the_cli,
    writes_total,
)

pytestmark = pytest.mark.timeout(120)

FLEET = "default"
"""Every SIM's destination Fleet, from the file's `fleet` column."""


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment,
    emulator_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[LocalStack]:
    """A worker on the emulator, and an environment where `simops` reaches the same ones."""
    emulator = await emulator_factory(seed_sims=12, scheduled_delay=(0.05, 0.2))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as running:
        reach_from_the_cli(monkeypatch, dev_env, running, tmp_path)
        yield running


@pytest.fixture
def campaign_id() -> str:
    """An ID no other test of the session's Temporal server used."""
    return f"ids-{uuid.uuid4().hex[:12]}"


async def sims_file(stack: LocalStack, path: Path, count: int) -> Path:
    """A file of `count` SIMs still `new`, each with its Fleet."""
    sids = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=count)]
    assert len(sids) == count
    lines = ["sim,fleet", *(f"{sid},{FLEET}" for sid in sids)]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def start_args(action: CampaignAction, source: Path, campaign_id: str) -> list[str]:
    return [
        "campaign",
        "start",
        "--action",
        action.value,
        "--from-file",
        str(source),
        "--id",
        campaign_id,
    ]


def leftover_store(
    stack: LocalStack,
    action: CampaignAction,
    source: Path,
    campaign_id: str,
    digest_recorded: bool = True,
) -> CampaignSpec:
    """The store a start leaves when it stops before starting the workflow; without
    `digest_recorded`, as simops wrote it before it recorded the file's digest."""
    spec = command_line_spec(
        campaign_id=campaign_id, action=action, from_file=source, concurrency=200
    )
    if digest_recorded:
        spec = with_file_sha256(spec, source)
    CampaignStore.create(stack.settings.campaign_dir, spec, source).close()
    return spec


def completed_with(result: Result, campaign_id: str, converged: int) -> bool:
    """Whether the output ends with the campaign's result line: completed, so many converged."""
    *_, last = result.output.strip().splitlines()
    return last.startswith(f"campaign {campaign_id}: completed") and (
        f"{converged:,} converged" in last
    )


async def workflow_runs(stack: LocalStack, campaign_id: str) -> int:
    query = f"WorkflowId = '{campaign_workflow_id(campaign_id)}'"
    return len([execution async for execution in stack.client.list_workflows(query)])


async def test_the_same_spec_attaches_to_the_campaign(
    stack: LocalStack, tmp_path: Path, campaign_id: str
) -> None:
    source = await sims_file(stack, tmp_path / "sims.csv", 3)
    arguments = start_args(CampaignAction.ACTIVATE, source, campaign_id)

    first = await invoke_cli(*arguments)
    again = await invoke_cli(*arguments, "--watch")
    ended = await invoke_cli(*arguments)

    assert first.exit_code == ExitCode.OK, first.output
    assert f"started campaign {campaign_id}" in first.output
    for attached in (again, ended):
        assert attached.exit_code == ExitCode.OK, attached.output
        assert f"campaign {campaign_id} already exists" in attached.output
        assert "with the same spec" in attached.output
    assert completed_with(again, campaign_id, converged=3)
    assert completed_with(ended, campaign_id, converged=3)
    assert await workflow_runs(stack, campaign_id) == 1
    writes = (await emulator_stats(stack.emulator))["state_changing_writes"]
    assert writes["total"] == 3 and set(writes["per_sim"].values()) == {1}


async def test_another_action_is_refused_naming_it(
    stack: LocalStack, tmp_path: Path, campaign_id: str
) -> None:
    source = await sims_file(stack, tmp_path / "sims.csv", 3)
    started = await invoke_cli(*start_args(CampaignAction.ACTIVATE, source, campaign_id), "--watch")

    refused = await invoke_cli(*start_args(CampaignAction.DEACTIVATE, source, campaign_id))

    assert started.exit_code == ExitCode.OK, started.output
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.output
    assert "action: stored activate, given deactivate" in refused.output
    assert "action: started activate, given deactivate" in refused.output
    assert await workflow_runs(stack, campaign_id) == 1
    assert await writes_total(stack.emulator) == 3


async def test_another_file_of_the_same_name_is_refused(
    stack: LocalStack, tmp_path: Path, campaign_id: str
) -> None:
    source = await sims_file(stack, tmp_path / "sims.csv", 2)
    started = await invoke_cli(*start_args(CampaignAction.ACTIVATE, source, campaign_id), "--watch")
    await sims_file(stack, source, 3)

    refused = await invoke_cli(*start_args(CampaignAction.ACTIVATE, source, campaign_id))

    assert started.exit_code == ExitCode.OK, started.output
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.output
    assert "source.file_sha256: stored " in refused.output
    assert await writes_total(stack.emulator) == 2


@pytest.mark.parametrize("digest_recorded", [True, False], ids=["digest", "store-before-digests"])
async def test_a_leftover_store_runs_when_given_its_spec(
    stack: LocalStack, tmp_path: Path, campaign_id: str, digest_recorded: bool
) -> None:
    source = await sims_file(stack, tmp_path / "sims.csv", 3)
    leftover_store(stack, CampaignAction.ACTIVATE, source, campaign_id, digest_recorded)

    result = await invoke_cli(*start_args(CampaignAction.ACTIVATE, source, campaign_id), "--watch")

    assert result.exit_code == ExitCode.OK, result.output
    assert completed_with(result, campaign_id, converged=3)
    assert await writes_total(stack.emulator) == 3


async def test_a_leftover_store_of_another_spec_is_refused_and_nothing_runs(
    stack: LocalStack, tmp_path: Path, campaign_id: str
) -> None:
    source = await sims_file(stack, tmp_path / "sims.csv", 3)
    leftover_store(stack, CampaignAction.DEACTIVATE, source, campaign_id)

    as_campaign = await invoke_cli(*start_args(CampaignAction.ACTIVATE, source, campaign_id))
    as_migration = await invoke_cli(
        "migrate",
        "start",
        "--to-account",
        stack.emulator.accounts[1].account_sid,
        "--from-file",
        str(source),
        "--id",
        campaign_id,
    )

    assert as_campaign.exit_code == ExitCode.BAD_INPUT, as_campaign.output
    assert "action: stored deactivate, given activate" in as_campaign.output
    assert as_migration.exit_code == ExitCode.BAD_INPUT, as_migration.output
    assert "action: stored deactivate, given move" in as_migration.output
    assert await campaign_status(stack.client, campaign_id) is None
    assert await writes_total(stack.emulator) == 0


async def test_a_workflow_started_with_another_spec_than_its_store_is_never_attached(
    stack: LocalStack, tmp_path: Path, campaign_id: str
) -> None:
    source = await sims_file(stack, tmp_path / "sims.csv", 3)
    stored = leftover_store(stack, CampaignAction.DEACTIVATE, source, campaign_id)
    # What a start before this check could leave: the given spec's workflow over another store.
    # No worker polls its task queue, so it runs nothing.
    mixed = stored.model_copy(update={"action": CampaignAction.ACTIVATE})
    handle = await stack.client.start_workflow(
        CampaignWorkflow.run,
        CampaignRunInput(spec=mixed),
        id=campaign_workflow_id(campaign_id),
        task_queue="nobody-polls-this",
    )
    try:
        as_stored = await invoke_cli(*start_args(CampaignAction.DEACTIVATE, source, campaign_id))
        as_started = await invoke_cli(*start_args(CampaignAction.ACTIVATE, source, campaign_id))
    finally:
        await handle.terminate("test over")

    assert as_stored.exit_code == ExitCode.BAD_INPUT, as_stored.output
    assert "action: started activate, given deactivate" in as_stored.output
    assert as_started.exit_code == ExitCode.BAD_INPUT, as_started.output
    assert "action: stored deactivate, given activate" in as_started.output
