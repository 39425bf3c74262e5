"""`.simops/env`: what `simops dev` writes is valid sh, read back the same by sh and by simops,
and private from the moment it exists."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from simops.devstack.dev import DevOptions, banner, write_env
from simops.devstack.processes import settings_from_environment
from simops.emulator.server import RunningEmulator
from simops.runtime.env_file import EnvFileError, read_env_file, write_env_file
from simops.runtime.settings import SimopsSettings

AWKWARD = {
    "SIMOPS_KORE_WEBHOOK_SECRETS": json.dumps({"AC" + "a" * 32: 'it\'s "quoted" $HOME `id`'}),
    "SIMOPS_CALLBACK_SECRET": "$(touch pwned); rm -rf / #",
    "SIMOPS_TASK_QUEUE": "",
    "SIMOPS_API_URL": "http://127.0.0.1:1/v1?a=1&b=2",
    "SIMOPS_CALLBACK_BASE_URL": "back\\slash 'single' \"double\" é",
}


def _sourced_by_sh(path: Path) -> dict[str, str]:
    """What `set -a; . FILE` leaves in the environment of sh, for the file's names."""
    listing = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; set +a; env -0', "sh", str(path)],
        cwd=path.parent,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        check=True,
    )
    pairs = (entry.decode().partition("=") for entry in listing.stdout.split(b"\0") if entry)
    return {name: value for name, _, value in pairs if name.startswith("SIMOPS_")}


def test_sh_and_simops_read_back_every_value_as_written(tmp_path: Path) -> None:
    path = tmp_path / "env"

    write_env_file(path, AWKWARD)

    assert _sourced_by_sh(path) == AWKWARD
    assert not (tmp_path / "pwned").exists()
    assert read_env_file(path) == AWKWARD
    settings = SimopsSettings(_env_file=path)
    assert settings.callback_secret == SecretStr(AWKWARD["SIMOPS_CALLBACK_SECRET"])
    assert settings.webhook_secret_for("AC" + "a" * 32) == 'it\'s "quoted" $HOME `id`'
    assert settings.callback_base_url == AWKWARD["SIMOPS_CALLBACK_BASE_URL"]


def test_every_value_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "env"

    write_env_file(path, {"SIMOPS_TASK_QUEUE": "simops", "SIMOPS_CALLBACK_PORT": "8788"})

    assert path.read_text() == "SIMOPS_TASK_QUEUE='simops'\nSIMOPS_CALLBACK_PORT='8788'\n"


def test_the_file_is_0600_before_anything_is_written_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env"
    path.write_text("SIMOPS_TASK_QUEUE=old\n")
    path.chmod(0o644)
    modes_when_written: list[int] = []
    real_fdopen = os.fdopen

    def recording_fdopen(descriptor: int, *arguments: Any, **options: Any) -> Any:
        modes_when_written.append(stat.S_IMODE(os.fstat(descriptor).st_mode))
        return real_fdopen(descriptor, *arguments, **options)

    monkeypatch.setattr(os, "fdopen", recording_fdopen)
    old_umask = os.umask(0)
    try:
        write_env_file(path, AWKWARD)
    finally:
        os.umask(old_umask)

    assert modes_when_written == [0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["env"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('SIMOPS_KORE_WEBHOOK_SECRETS={"AC1": "x"}', "not NAME=value"),
        ("SIMOPS_CALLBACK_SECRET='unterminated", "No closing quotation"),
        ("just-a-word", "not NAME=value"),
    ],
)
def test_a_line_sh_would_not_read_is_an_error_naming_it(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "env"
    path.write_text(f"# written by hand\n\nexport SIMOPS_TASK_QUEUE='q'\n{line}\n")

    with pytest.raises(EnvFileError, match=f"line 4: {problem}"):
        read_env_file(path)


def test_a_value_that_spans_lines_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="span lines"):
        write_env_file(tmp_path / "env", {"SIMOPS_TASK_QUEUE": "a\nSIMOPS_API_URL=b"})


async def test_simops_dev_writes_what_sh_sources_and_prints_no_secret(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    options = DevOptions(directory=tmp_path)

    values = write_env(options, emulator)  # type: ignore[arg-type]
    shown = banner(options, emulator)  # type: ignore[arg-type]

    sourced = _sourced_by_sh(tmp_path / "env")
    read_back = SimopsSettings(_env_file=tmp_path / "env")
    assert read_back == settings_from_environment(values)
    assert json.loads(sourced["SIMOPS_TWILIO_AUTH_TOKENS"]) == {
        account.account_sid: account.auth_token for account in emulator.accounts
    }
    secrets = [sourced["SIMOPS_CALLBACK_SECRET"]]
    for account in emulator.accounts:
        secrets += [account.auth_token, account.client_secret, account.webhook_secret]
    assert [secret for secret in secrets if secret in shown] == []
    assert str(tmp_path / "env") in shown
