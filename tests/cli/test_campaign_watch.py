"""`--watch`'s progress bar prints a campaign ID as text, whatever it holds."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction
from simops.cli.campaign import GROUP
from simops.cli.campaign_commands import progress_line, watch_campaign
from simops.messages import CampaignProgress, CampaignResult
from simops.runtime.settings import SimopsSettings

MARKUP_ID = "[/bold]launch[red]-1"


@dataclass
class _Description:
    status: WorkflowExecutionStatus


@dataclass
class FakeHandle:
    """A campaign that runs for one look, then ends."""

    looks: list[WorkflowExecutionStatus] = field(
        default_factory=lambda: [
            WorkflowExecutionStatus.RUNNING,
            WorkflowExecutionStatus.COMPLETED,
        ]
    )

    async def describe(self) -> _Description:
        return _Description(self.looks.pop(0))

    async def query(self, *_: Any) -> CampaignProgress:
        return CampaignProgress(
            campaign_id=MARKUP_ID,
            action=CampaignAction.ACTIVATE,
            phase=CampaignPhase.RUNNING,
            total_rows=10,
            ended_rows=4,
        )

    async def result(self) -> CampaignResult:
        return CampaignResult(
            campaign_id=MARKUP_ID, phase=CampaignPhase.COMPLETED, counts={"converged": 10}
        )


async def test_a_campaign_id_with_markup_is_shown_as_text(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setattr("simops.cli.campaign_commands.WATCH_INTERVAL_SECONDS", 0)
    out = io.StringIO()
    settings = SimopsSettings(_env_file=None, campaign_dir=tmp_path)

    code = await watch_campaign(GROUP, settings, FakeHandle(), out)  # type: ignore[arg-type]

    assert code == 0
    assert MARKUP_ID in out.getvalue()


def test_the_last_line_counts_rows_in_words() -> None:
    progress = CampaignProgress(
        campaign_id="c1",
        action=CampaignAction.ACTIVATE,
        phase=CampaignPhase.COMPLETED,
        counts={"converged": 1000, "already_converged": 0, "failed": 2, "pending": 0},
    )

    assert (
        progress_line(GROUP, progress)
        == "campaign c1: completed; 1,002 rows: 1,000 converged, 2 failed"
    )
