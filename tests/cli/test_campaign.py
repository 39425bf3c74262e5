"""How `simops campaign start` reads its options: `--fleet` with a file is the Fleet to assign."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from simops.campaigns.spec import CampaignAction
from simops.core.sim import SimStatus
from tests.helpers.campaigns import command_line_spec as spec

ACTIVATE = CampaignAction.ACTIVATE
DEACTIVATE = CampaignAction.DEACTIVATE


@pytest.fixture
def sims_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sims.csv"
    path.write_text("sim\nHS" + "1" * 32 + "\n")
    return path


@pytest.mark.parametrize("action", list(CampaignAction)[:6])
def test_fleet_with_a_file_is_the_fleet_to_assign(action: CampaignAction, sims_csv: Path) -> None:
    built = spec(action=action, from_file=sims_csv, fleet="iot-eu")

    assert built.fleet == "iot-eu"
    assert built.source.file_name == "sims.csv"
    assert built.source.fleet is None and built.source.status is None


def test_fleet_with_a_filter_assigns_for_activate_and_filters_for_deactivate() -> None:
    activate = spec(action=ACTIVATE, status=SimStatus.NEW, fleet="iot-eu")
    deactivate = spec(action=DEACTIVATE, status=SimStatus.ACTIVE, fleet="iot-eu")

    assert (activate.fleet, activate.source.fleet) == ("iot-eu", None)
    assert (deactivate.fleet, deactivate.source.fleet) == (None, "iot-eu")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"action": ACTIVATE}, "give either --from-file FILE or a filter"),
        ({"action": ACTIVATE, "fleet": "iot-eu"}, "give either --from-file FILE or a filter"),
        ({"action": ACTIVATE, "status": SimStatus.NEW, "from_file": "FILE"}, "cannot be combined"),
        ({"action": CampaignAction.SET_FLEET, "status": SimStatus.NEW}, "needs --fleet"),
    ],
)
def test_what_cannot_be_a_campaign_is_one_line(
    options: dict[str, Any], message: str, sims_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if options.get("from_file") == "FILE":
        options["from_file"] = sims_csv
    with pytest.raises(typer.Exit) as leaving:
        spec(**options)

    assert leaving.value.exit_code == 2
    assert message in capsys.readouterr().err
