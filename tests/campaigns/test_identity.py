"""Comparing two specs of one campaign ID field by field, and the source file's digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simops.campaigns.identity import file_sha256, spec_differences, with_file_sha256
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec, MigrationSpec

CHILD = "AC" + "2" * 32


def migration(**fields: Any) -> CampaignSpec:
    return CampaignSpec(
        campaign_id="m",
        action=CampaignAction.MOVE,
        source=CampaignSource(file_name="sims.csv"),
        migration=MigrationSpec(to_account=CHILD, **fields),
    )


def test_the_same_spec_has_no_differences() -> None:
    assert spec_differences(migration(), migration(), "stored") == []


def test_nested_fields_are_named_dotted_with_both_values() -> None:
    stored = migration(fleet_map={"lab": "iot-eu"}, deactivate_first=True)
    given = migration(fleet_map={}, deactivate_first=False).model_copy(update={"rate": 5.0})

    assert spec_differences(stored, given, "stored") == [
        "rate: stored none, given 5.0",
        "migration.fleet_map.lab: stored iot-eu, given none",
        "migration.deactivate_first: stored true, given false",
    ]


def test_a_file_source_names_its_content_digest(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("sim\nHS1\n", encoding="utf-8")
    second.write_text("sim\nHS2\n", encoding="utf-8")
    spec = migration()

    differences = spec_differences(
        with_file_sha256(spec, first), with_file_sha256(spec, second), "stored"
    )

    assert differences == [
        f"source.file_sha256: stored {file_sha256(first)}, given {file_sha256(second)}"
    ]
    assert with_file_sha256(spec, None) == spec
