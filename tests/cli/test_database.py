"""`simops db` and the worker's schema check, as a user runs them: against a real PostgreSQL
and against SQLite stores written before schema versions existed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from simops.campaigns.store.schema import LATEST_VERSION
from simops.runtime.ports import free_port
from tests.helpers.legacy_store import legacy_store
from tests.helpers.processes import SIMOPS

TIMEOUT_SECONDS = 60


def simops(*arguments: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run one simops command with only these SIMOPS_* settings (and no `.simops/env`)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMOPS_")}
    environment.update(settings)
    return subprocess.run(
        [*SIMOPS, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's single `error:` line (and no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_postgresql_store_is_upgraded_and_checked(postgres_url: str, tmp_path: Path) -> None:
    behind = simops("db", "status", cwd=tmp_path, SIMOPS_DATABASE_URL=postgres_url)
    upgraded = simops("db", "upgrade", cwd=tmp_path, SIMOPS_DATABASE_URL=postgres_url)
    again = simops("db", "upgrade", cwd=tmp_path, SIMOPS_DATABASE_URL=postgres_url)
    current = simops("db", "status", "-o", "json", cwd=tmp_path, SIMOPS_DATABASE_URL=postgres_url)

    assert behind.returncode == 1, behind.stderr
    assert "schema version 0" in behind.stdout and "simops db upgrade" in behind.stdout
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines()[0].startswith("schema 0 → 1: campaign-keyed tables")
    assert upgraded.stdout.splitlines()[-1].endswith(f"schema version {LATEST_VERSION}, up to date")
    assert again.returncode == 0 and len(again.stdout.splitlines()) == 1
    status = json.loads(current.stdout)
    assert (status["up_to_date"], status["campaigns"], status["problem"]) == (True, 0, None)


def test_the_worker_refuses_to_start_on_a_store_behind_its_schema(
    postgres_url: str, tmp_path: Path
) -> None:
    # Nobody listens at the Temporal address: the check comes before any connection.
    refused = simops(
        "worker",
        cwd=tmp_path,
        SIMOPS_DATABASE_URL=postgres_url,
        SIMOPS_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        SIMOPS_TEMPORAL_ENVCONFIG="false",
    )

    assert refused.returncode == 2
    line = one_error_line(refused)
    assert "schema version 0" in line and "run `simops db upgrade`" in line


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://simops:hunter2@127.0.0.1:{free_port()}/simops?connect_timeout=2"

    for command in (["db", "status"], ["db", "upgrade"]):
        result = simops(*command, cwd=tmp_path, SIMOPS_DATABASE_URL=url)
        assert result.returncode == 1, result.stderr
        line = one_error_line(result)
        assert "cannot use the campaign store postgresql://simops:***@127.0.0.1" in line
        assert "hunter2" not in result.stderr + result.stdout


def test_sqlite_stores_written_before_schema_versions_are_adopted(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    legacy_store(campaigns)
    settings = {"SIMOPS_CAMPAIGN_DIR": str(campaigns)}

    behind = simops("db", "status", cwd=tmp_path, **settings)
    report_before = simops("campaign", "report", "spring-rollout", cwd=tmp_path, **settings)
    upgraded = simops("db", "upgrade", cwd=tmp_path, **settings)
    current = simops("db", "status", cwd=tmp_path, **settings)

    assert behind.returncode == 1 and "simops db upgrade" in behind.stdout
    assert report_before.returncode != 0
    assert "simops db upgrade" in one_error_line(report_before)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "spring-rollout: adopted an unversioned store (12 rows" in upgraded.stdout
    assert current.returncode == 0 and "up to date, 1 campaign" in current.stdout
