"""The campaign controls: which errors stop a campaign, when failures do, what compensation does."""

from __future__ import annotations

import pytest

from simops.campaigns.controls import (
    failure_threshold_reason,
    is_less_in_service,
    restore_goal,
    systemic_reason,
)
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.core.sim import SimSnapshot, SimStatus, SimUpdate

PARENT = "AC" + "1" * 32
CHILD = "AC" + "2" * 32


def snapshot(status: SimStatus, account: str = PARENT) -> SimSnapshot:
    return SimSnapshot(sid="HS" + "0" * 32, status=status, account_sid=account, fleet_sid="HF1")


def spec(**fields: object) -> CampaignSpec:
    return CampaignSpec(
        campaign_id="c",
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name="x.csv"),
        **fields,
    )


def test_a_refused_move_of_an_inactive_sim_is_about_the_account() -> None:
    reason = systemic_reason(
        83010,
        400,
        "Moving inactive SIMs between accounts is a private beta",
        update=SimUpdate(account_sid=CHILD, fleet=""),
        observed=snapshot(SimStatus.INACTIVE),
    )
    assert reason is not None and reason.startswith("83010: Moving inactive SIMs")
    assert "private beta" in reason


@pytest.mark.parametrize(
    ("update", "observed"),
    [
        (SimUpdate(status=SimStatus.ACTIVE), snapshot(SimStatus.NEW)),
        (SimUpdate(account_sid=CHILD), snapshot(SimStatus.NEW)),
        (SimUpdate(account_sid=PARENT), snapshot(SimStatus.INACTIVE)),
        (None, None),
    ],
    ids=["status-change", "move-of-new", "not-a-move", "a-read"],
)
def test_83010_about_one_sim_stops_nothing(
    update: SimUpdate | None, observed: SimSnapshot | None
) -> None:
    assert systemic_reason(83010, 400, "no", update=update, observed=observed) is None


@pytest.mark.parametrize(
    ("code", "http_status"), [(20003, 401), (None, 401), (None, 403), (83006, 400)]
)
def test_credential_and_fleet_errors_stop_the_campaign(code: int | None, http_status: int) -> None:
    reason = systemic_reason(code, http_status, "refused", update=None, observed=None)
    assert reason is not None and "no new SIM is written" in reason


@pytest.mark.parametrize("code", [83011, 20404, 83007, 83009])
def test_errors_about_one_sim_stop_nothing(code: int) -> None:
    assert systemic_reason(code, 400, "no", update=None, observed=None) is None


def test_a_failure_count_stops_at_its_threshold() -> None:
    assert failure_threshold_reason(spec(max_failures=3), failed=2, ended=2, total=10) is None
    reason = failure_threshold_reason(spec(max_failures=3), failed=3, ended=3, total=10)
    assert reason is not None and "threshold of 3" in reason
    # 0 means the first failure stops it.
    assert failure_threshold_reason(spec(max_failures=0), failed=1, ended=1, total=10)


def test_a_failure_share_waits_for_enough_sims_to_end() -> None:
    ratio = spec(max_failure_ratio=0.1, min_ended_for_ratio=100)
    # The first failure is 100% of what ended, but too few SIMs ended to judge.
    assert failure_threshold_reason(ratio, failed=1, ended=1, total=10_000) is None
    assert failure_threshold_reason(ratio, failed=9, ended=100, total=10_000) is None
    reason = failure_threshold_reason(ratio, failed=10, ended=100, total=10_000)
    assert reason is not None and "10 of the 100" in reason
    # Small campaigns are judged once every SIM ended.
    assert failure_threshold_reason(ratio, failed=1, ended=5, total=5)
    # And a share of all rows failing stops it whatever ended.
    assert failure_threshold_reason(ratio, failed=1_000, ended=1_000, total=10_000)


def test_only_an_enabled_sim_now_inactive_is_out_of_service() -> None:
    for before in (SimStatus.READY, SimStatus.ACTIVE):
        assert is_less_in_service(snapshot(before), snapshot(SimStatus.INACTIVE))
    assert not is_less_in_service(snapshot(SimStatus.NEW), snapshot(SimStatus.INACTIVE))
    assert not is_less_in_service(snapshot(SimStatus.ACTIVE), snapshot(SimStatus.ACTIVE))
    assert not is_less_in_service(None, snapshot(SimStatus.INACTIVE))


def test_compensation_restores_the_earlier_status_where_the_sim_is() -> None:
    goal = restore_goal(snapshot(SimStatus.READY))
    assert goal.status == SimStatus.READY
    assert goal.account_sid is None and goal.fleet_sid is None
