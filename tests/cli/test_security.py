"""`simops codec-key` and `simops scan` as an operator runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from simops.cli.security import register
from simops.emulator.ids import iccid_for
from simops.runtime.codec import parse_payload_key
from simops.scan import fingerprint

CALLBACK_SECRET = "operator-callback-secret-0123456789"


def security_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_codec_key_prints_a_fresh_key_each_time() -> None:
    first, second = (CliRunner().invoke(security_app(), ["codec-key"]) for _ in range(2))

    assert first.exit_code == second.exit_code == 0
    assert len(parse_payload_key(first.output)) == 32
    assert first.output != second.output


@pytest.fixture
def configured(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The dev server's address and one secret in the environment, in an empty directory."""
    for variable in [name for name in os.environ if name.startswith("SIMOPS_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("SIMOPS_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("SIMOPS_CALLBACK_SECRET", CALLBACK_SECRET)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_scan_of_clean_histories_and_logs_exits_0(configured: Path) -> None:
    log = configured / "worker.log"
    log.write_text("worker polling task queue simops\n", encoding="utf-8")

    result = CliRunner().invoke(
        security_app(), ["scan", "--log", str(log), "--query", "WorkflowId = 'none-such'"]
    )

    assert result.exit_code == 0, result.output
    assert "1 configured secret(s)" in result.output
    assert result.output.rstrip().endswith("0 found")


def test_scan_reports_leaks_masked_and_exits_1(configured: Path) -> None:
    iccid = iccid_for(3)
    log = configured / "ingress.log"
    log.write_text(f"ok\nsecret={CALLBACK_SECRET}\nsim {iccid}\n", encoding="utf-8")

    result = CliRunner().invoke(
        security_app(), ["scan", "--log", str(log), "--query", "WorkflowId = 'none-such'"]
    )

    assert result.exit_code == 1
    assert f"{log}:2: secret {fingerprint(CALLBACK_SECRET)}" in result.output
    assert f"{log}:3: iccid {iccid[:6]}…{iccid[-4:]}" in result.output
    assert CALLBACK_SECRET not in result.output and iccid not in result.output
    assert result.output.rstrip().endswith("2 found")
