"""Replays committed histories of every workflow type: a change that breaks determinism (of a
workflow running while workers are upgraded) fails here. Record them with
tools/record_histories.py; keep old files, which stand for executions started by older code."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from simops.worker import WORKFLOWS
from simops.workflows.sandbox import WORKFLOW_RUNNER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _workflow_type(path: Path) -> str:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    started = next(
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    )
    return started.workflow_execution_started_event_attributes.workflow_type.name


def test_every_workflow_type_has_recorded_histories() -> None:
    recorded = {_workflow_type(path) for path in HISTORIES}

    # The names in `@workflow.defn(name=...)`: a new workflow type must add its histories here.
    assert len(WORKFLOWS) == len(recorded) == 4
    assert recorded == {"SimOperation", "Campaign", "CampaignBatch", "CampaignNotifier"}
    assert {
        "campaign_migration",
        "campaign_rollback",
        "campaign_notify",
        "campaign_notify_notifier",
    } <= {path.stem for path in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=WORKFLOW_RUNNER
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
