"""Every token simops accepts is refused at start-up when blank or short, naming its setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from simops.cli import app
from simops.runtime.settings import SimopsSettings
from simops.runtime.tokens import TokenScope

GOOD = "0123456789abcdef"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SIMOPS_UI_TOKEN", " " * 20, "SIMOPS_UI_TOKEN is blank"),
        ("SIMOPS_UI_TOKEN", "", "SIMOPS_UI_TOKEN is blank"),
        ("SIMOPS_UI_TOKEN", "x" * 15, "SIMOPS_UI_TOKEN is 15 characters"),
        ("SIMOPS_CODEC_TOKEN", "x", "SIMOPS_CODEC_TOKEN is 1 characters"),
        ("SIMOPS_CODEC_TOKEN", "\t" * 16, "SIMOPS_CODEC_TOKEN is blank"),
        ("SIMOPS_API_TOKENS", "ci:write:short", "SIMOPS_API_TOKENS entry 1 (ci) is 5"),
        ("SIMOPS_API_TOKENS", f"ci:read:{GOOD},ops:write: ", "entry 2 (ops) is blank"),
        ("SIMOPS_API_TOKENS", f"ci:admin:{GOOD}", "the scope is read or write"),
        ("SIMOPS_API_TOKENS", GOOD, "name:scope:token"),
        ("SIMOPS_API_TOKENS", f"ci:read:{GOOD},ci:write:{GOOD}x", "names 'ci' twice"),
        ("SIMOPS_API_TOKENS", f"a:read:{GOOD},b:write:{GOOD}", "one token under two names"),
    ],
)
def test_a_blank_or_short_token_is_refused_naming_its_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        SimopsSettings(_env_file=None)
    assert named in str(refused.value)
    secret = value.rsplit(":", 1)[-1]
    if len(secret.strip()) > 4:
        # The refusal never echoes the token it refused.
        assert secret not in str(refused.value)
    # Every process reads its settings the same way: `simops worker` refuses to start.
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert named in result.output and "Traceback" not in result.output


def test_tokens_of_16_characters_and_more_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMOPS_UI_TOKEN", GOOD)
    monkeypatch.setenv("SIMOPS_CODEC_TOKEN", GOOD + "!")
    monkeypatch.setenv(
        "SIMOPS_API_TOKENS", f" ci : write :{GOOD}:with:colons, grafana:read:{GOOD}2"
    )
    settings = SimopsSettings(_env_file=None)

    assert [(token.name, token.scope) for token in settings.api_tokens] == [
        ("ci", TokenScope.WRITE),
        ("grafana", TokenScope.READ),
    ]
    assert settings.api_tokens[0].token.get_secret_value() == f"{GOOD}:with:colons"
    assert GOOD not in repr(settings)
