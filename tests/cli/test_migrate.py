"""`simops migrate`: how the command line becomes a migration, and what it refuses (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from simops.campaigns.spec import CampaignAction
from simops.cli.migrate import (
    build_migration_spec,
    build_rollback_spec,
    parse_fleet_map,
    register,
)
from simops.cli.support import ExitCode
from simops.core.sim import NO_FLEET, SimStatus

PARENT = "AC" + "1" * 32
CHILD = "AC" + "2" * 32


def test_a_fleet_map_takes_pairs_and_an_empty_target_for_none() -> None:
    assert parse_fleet_map(["default=iot-eu", " lab = ", "HF" + "0" * 32 + "=x"]) == {
        "default": "iot-eu",
        "lab": NO_FLEET,
        "HF" + "0" * 32: "x",
    }


@pytest.mark.parametrize("entries", [["default"], ["=x"], ["a=b", "a=c"]])
def test_a_malformed_fleet_map_is_refused(entries: list[str]) -> None:
    with pytest.raises(typer.Exit) as refused:
        parse_fleet_map(entries)

    assert refused.value.exit_code == ExitCode.BAD_INPUT


def test_a_migration_from_an_account_keeps_its_filters() -> None:
    spec = build_migration_spec(
        campaign_id="to-child",
        to_account=CHILD,
        from_file=None,
        from_account=PARENT,
        status=SimStatus.ACTIVE,
        fleet="default",
        fleet_map=["default=default"],
        deactivate_first=True,
        reactivate=True,
        max_failures="2%",
    )

    assert spec.action is CampaignAction.MOVE
    assert (spec.source.account_sid, spec.source.status, spec.source.fleet) == (
        PARENT,
        SimStatus.ACTIVE,
        "default",
    )
    assert spec.migration is not None and spec.migration.reactivate
    assert spec.max_failure_ratio == 0.02


@pytest.mark.parametrize(
    ("options", "canary", "compensate"),
    [
        ({"deactivate_first": True}, 10, True),
        ({"deactivate_first": True, "canary": 0}, 0, True),
        ({"deactivate_first": True, "canary": 3, "compensate": False}, 3, False),
        ({}, 0, True),
    ],
    ids=["several-writes", "canary-off", "chosen", "one-write"],
)
def test_a_path_of_several_writes_starts_with_a_canary(
    options: dict[str, object], canary: int, compensate: bool
) -> None:
    spec = build_migration_spec(
        campaign_id="m",
        to_account=CHILD,
        from_file=None,
        from_account=PARENT,
        default_fleet="default",
        **options,  # type: ignore[arg-type]
    )
    assert (spec.canary, spec.compensate) == (canary, compensate)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from_account": None}, "either --from-file"),
        ({"to_account": "AC123"}, "--to-account takes an Account SID"),
        ({"from_account": CHILD}, "the same account"),
        ({"reactivate": True}, "--reactivate applies"),
        ({"default_fleet": "x", "no_fleet": True}, "not both"),
        ({"campaign_id": "no spaces"}, "invalid migration"),
    ],
)
def test_a_migration_that_cannot_run_is_refused(
    fields: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments: dict[str, object] = {
        "campaign_id": "m",
        "to_account": CHILD,
        "from_file": None,
        "from_account": PARENT,
        **fields,
    }
    with pytest.raises(typer.Exit) as refused:
        build_migration_spec(**arguments)  # type: ignore[arg-type]

    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err


def test_a_rollback_reads_the_migration_it_undoes() -> None:
    spec = build_rollback_spec(campaign_id="m-rollback", migration_id="m")

    assert spec.action is CampaignAction.ROLLBACK and spec.source.rollback_of == "m"


def test_rolling_back_an_unknown_migration_says_so(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    result = CliRunner().invoke(
        app, ["migrate", "rollback", "nothing-here"], env={"SIMOPS_CAMPAIGN_DIR": str(tmp_path)}
    )

    assert result.exit_code == ExitCode.BAD_INPUT
    assert "no migration nothing-here" in result.output
