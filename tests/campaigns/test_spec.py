"""What a campaign's source may be: one of a file, a filter, a migration to roll back, or a
campaign to retry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.core.sim import OutcomeKind, SimStatus


def test_a_retry_reads_the_failed_rows_and_the_cancelled_ones_when_asked() -> None:
    assert CampaignSource(retry_of="c1").retried_outcomes == (OutcomeKind.FAILED,)
    assert CampaignSource(retry_of="c1", retry_cancelled=True).retried_outcomes == (
        OutcomeKind.FAILED,
        OutcomeKind.CANCELLED,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retry_of": "c1", "file_name": "sims.csv"}, "not several"),
        ({"retry_of": "c1", "status": SimStatus.NEW}, "not several"),
        ({"status": SimStatus.NEW, "retry_codes": [83010]}, "choose the rows of a retry_of"),
        ({"status": SimStatus.NEW, "retry_cancelled": True}, "choose the rows of a retry_of"),
    ],
)
def test_a_retry_is_a_source_of_its_own(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CampaignSource.model_validate(fields)


def test_a_retry_of_a_rollback_is_a_rollback_and_only_a_rollback_reads_a_migration() -> None:
    retry = CampaignSpec(
        campaign_id="undo-retry-1",
        action=CampaignAction.ROLLBACK,
        source=CampaignSource(retry_of="undo"),
    )

    assert retry.source.rollback_of is None
    with pytest.raises(ValidationError, match="only a rollback reads an earlier migration"):
        CampaignSpec(
            campaign_id="c1",
            action=CampaignAction.ACTIVATE,
            source=CampaignSource(rollback_of="m1"),
        )
    with pytest.raises(ValidationError, match="a rollback reads an earlier migration"):
        CampaignSpec(
            campaign_id="c1",
            action=CampaignAction.ROLLBACK,
            source=CampaignSource(status=SimStatus.NEW),
        )
