"""`--continuous` and `--every` of `simops campaign start`: what they make of the spec, and each
combination that cannot be a continuous campaign is one line (exit 2), no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simops.campaigns.spec import CampaignAction, Continuous
from simops.cli import app
from simops.cli.support import ExitCode
from simops.core.sim import SimStatus
from tests.helpers.campaigns import command_line_spec

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated")]

START = ["campaign", "start"]
ACTIVATE_NEW = ["--action", "activate", "--status", "new", "--fleet", "iot-eu"]


@pytest.fixture
def sims_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sims.csv"
    path.write_text("sim\nHS" + "1" * 32 + "\n")
    return path


@pytest.mark.parametrize(
    ("every", "seconds"),
    [(None, 300.0), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("10", 10.0), ("1.5m", 90.0)],
)
def test_every_takes_seconds_minutes_and_hours(every: str | None, seconds: float) -> None:
    built = command_line_spec(
        action=CampaignAction.ACTIVATE,
        status=SimStatus.NEW,
        fleet="iot-eu",
        continuous=True,
        every=every,
    )

    assert built.continuous == Continuous(every_seconds=seconds)
    assert built.source.status is SimStatus.NEW and built.fleet == "iot-eu"


def test_without_continuous_a_campaign_has_no_scans() -> None:
    built = command_line_spec(action=CampaignAction.ACTIVATE, status=SimStatus.NEW)

    assert built.continuous is None


MISTAKES = [
    pytest.param(
        ["--action", "activate", "--continuous", "--from-file", "FILE"],
        "--continuous lists a filter (--status, --filter-fleet) for new SIMs; it cannot read "
        "--from-file",
        id="from-file",
    ),
    pytest.param(
        ["--action", "deactivate", "--status", "active", "--continuous"],
        "--continuous takes --action activate, ready, set-fleet, not deactivate",
        id="deactivate",
    ),
    pytest.param(
        ["--action", "rename", "--status", "new", "--continuous"],
        "--continuous takes --action activate, ready, set-fleet, not rename",
        id="rename",
    ),
    pytest.param(
        [*ACTIVATE_NEW, "--continuous", "--every", "5s"],
        "--every 5s: at least 10s (each scan lists the API)",
        id="every-too-short",
    ),
    pytest.param(
        [*ACTIVATE_NEW, "--continuous", "--every", "five minutes"],
        "--every takes a duration such as 30s, 5m or 1h, not 'five minutes'",
        id="every-not-a-duration",
    ),
    pytest.param(
        [*ACTIVATE_NEW, "--continuous", "--every", "5d"],
        "--every takes a duration such as 30s, 5m or 1h, not '5d'",
        id="every-in-days",
    ),
    pytest.param(
        [*ACTIVATE_NEW, "--every", "5m"],
        "--every is how often a --continuous campaign scans",
        id="every-without-continuous",
    ),
    pytest.param(
        ["--action", "activate", "--fleet", "iot-eu", "--continuous"],
        "give either --from-file FILE or a filter",
        id="no-filter",
    ),
]


@pytest.mark.parametrize(("options", "message"), MISTAKES)
def test_each_mistake_is_one_line_and_exit_2(
    options: list[str], message: str, sims_csv: Path
) -> None:
    arguments = [*START, *(str(sims_csv) if word == "FILE" else word for word in options)]

    result = CliRunner().invoke(app, [*arguments, "--dry-run"])

    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {message}"), line
