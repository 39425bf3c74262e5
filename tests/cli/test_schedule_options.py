"""`--start-at`, `--end-at`, `--window` and `--timezone` of `simops campaign start` and
`simops migrate start`: each mistake is one line naming the option (exit 2), and what they
make of the spec (the dry run that prints it is in test_dry_run.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from simops.campaigns.schedule import CampaignSchedule
from simops.campaigns.spec import CampaignAction
from simops.cli import app
from simops.cli.campaign_commands import parse_schedule
from simops.cli.migrate import build_migration_spec
from simops.cli.support import ExitCode
from tests.helpers.campaigns import command_line_spec

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated")]

CHILD = "AC" + "2" * 32
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
"""A Monday, noon UTC."""


@pytest.fixture
def sims_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sims.csv"
    path.write_text("sim\nHS" + "1" * 32 + "\n")
    return path


START_COMMANDS = {
    "campaign": ["campaign", "start", "--action", "activate"],
    "migrate": ["migrate", "start", "--to-account", CHILD],
}

MISTAKES = [
    pytest.param(
        ["--start-at", "2026-12-08T01:00"],
        "--start-at '2026-12-08T01:00' has no UTC offset: add one, as in "
        "2026-12-08T01:00:00+01:00 (Z for UTC)",
        id="start-without-offset",
    ),
    pytest.param(
        ["--end-at", "2099-12-08"],
        "--end-at '2099-12-08' has no UTC offset",
        id="end-a-date-only",
    ),
    pytest.param(
        ["--start-at", "tomorrow"],
        "--start-at 'tomorrow' is not an ISO 8601 time: give one such as "
        "2026-12-08T01:00:00+01:00 (Z for UTC)",
        id="start-not-a-time",
    ),
    pytest.param(
        ["--end-at", "2020-01-01T00:00:00Z"],
        "--end-at 2020-01-01T00:00:00Z has already passed",
        id="end-past",
    ),
    pytest.param(
        ["--start-at", "2099-01-02T00:00:00+01:00", "--end-at", "2099-01-01T23:00:00Z"],
        "--end-at 2099-01-01 23:00:00 UTC is not after the start, 2099-01-01 23:00:00 UTC",
        id="end-at-start",
    ),
    pytest.param(
        # 2099-01-01 is a Thursday: no Saturday window before the end.
        [
            *("--end-at", "2099-01-02T00:00:00Z", "--start-at", "2099-01-01T00:00:00Z"),
            *("--window", "Sat 01:00-05:00"),
        ],
        "--end-at 2099-01-02T00:00:00Z comes before any --window opens: the campaign would "
        "write nothing",
        id="no-window-before-end",
    ),
    pytest.param(
        ["--window", "Mon-Fry 01:00-05:00"],
        "--window 'Mon-Fry 01:00-05:00': 'Fry' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, "
        "Sun); a window is '[DAYS ]HH:MM-HH:MM', e.g. 'Mon-Fri 01:00-05:00'",
        id="window-bad-day",
    ),
    pytest.param(
        ["--window", "01:00-05:00", "--window", "01:00"],
        "--window '01:00': no time range HH:MM-HH:MM at its end",
        id="second-window-no-range",
    ),
    pytest.param(
        ["--window", "22:00-22:00"],
        "--window '22:00-22:00': it opens and closes at 22:00",
        id="window-empty",
    ),
    pytest.param(
        ["--window", "01:00-05:00", "--timezone", "Europe/Berln"],
        "--timezone 'Europe/Berln' is not an IANA time zone; give one such as Europe/Berlin, "
        "America/New_York or UTC",
        id="unknown-zone",
    ),
    pytest.param(
        ["--timezone", "Europe/Berlin"],
        "--timezone is the time zone of --window's times; --start-at and --end-at carry their "
        "own offset",
        id="zone-without-window",
    ),
]


@pytest.mark.parametrize("command", sorted(START_COMMANDS))
@pytest.mark.parametrize(("options", "message"), MISTAKES)
def test_each_mistake_is_one_line_and_exit_2(
    command: str, options: list[str], message: str, sims_csv: Path
) -> None:
    arguments = [*START_COMMANDS[command], "--from-file", str(sims_csv), *options, "--dry-run"]

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {message}"), line


def test_the_schedule_options_make_the_specs_schedule(sims_csv: Path) -> None:
    schedule = parse_schedule(
        start_at="2026-12-08T01:00:00+01:00",
        end_at="2026-12-20T00:00:00Z",
        windows=["mon-fri 1:00-5:00", "Sat,Sun 00:00-24:00"],
        timezone="Europe/Berlin",
        now=NOW,
    )
    campaign = command_line_spec(
        action=CampaignAction.ACTIVATE, from_file=sims_csv, schedule=schedule
    )
    migration = build_migration_spec(
        campaign_id="m1", to_account=CHILD, from_file=sims_csv, from_account=None, schedule=schedule
    )

    assert campaign.schedule == migration.schedule == schedule
    assert schedule == CampaignSchedule(
        start_at=datetime(2026, 12, 8, tzinfo=UTC),
        end_at=datetime(2026, 12, 20, tzinfo=UTC),
        windows=["Mon-Fri 01:00-05:00", "Sat-Sun 00:00-24:00"],
        timezone="Europe/Berlin",
    )


def test_no_schedule_option_is_no_schedule() -> None:
    assert parse_schedule(start_at=None, end_at=None, windows=None, timezone=None) is None
    assert parse_schedule(start_at=None, end_at=None, windows=[], timezone=None) is None


def test_an_end_is_judged_against_the_time_of_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    end_at = "2026-12-07T12:00:00Z"

    before = datetime(2026, 12, 7, 11, tzinfo=UTC)
    assert parse_schedule(start_at=None, end_at=end_at, windows=None, timezone=None, now=before)
    with pytest.raises(typer.Exit) as refused:
        parse_schedule(start_at=None, end_at=end_at, windows=None, timezone=None, now=NOW)

    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert "--end-at 2026-12-07T12:00:00Z has already passed" in capsys.readouterr().err
