"""`--notify URL` and the webhook settings: a bad URL or a missing, blank or short secret is
refused with one clear line (exit 2) before anything starts, never with a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from simops.cli import app
from tests.helpers.webhook_receiver import TEST_NOTIFY_SECRET

ACCOUNT = "AC" + "a" * 32


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [name for name in os.environ if name.startswith("SIMOPS_")]:
        monkeypatch.delenv(name)
    # Nothing may reach a Temporal server: every refusal comes first.
    monkeypatch.setenv("SIMOPS_TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.chdir(tmp_path)


def _simops(*arguments: str, **environment: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env=environment)


def _refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hook", "is not an http or https URL"),
        ("example.com/hook", "is not an http or https URL"),
        ("https:///hook", "has no host"),
        ("https://example.com:99999/hook", "is not a URL"),
    ],
)
@pytest.mark.parametrize("command", ["campaign", "migrate"])
def test_a_notify_url_that_is_not_http_is_refused(command: str, url: str, problem: str) -> None:
    arguments = (
        ["campaign", "start", "--action", "activate", "--status", "new"]
        if command == "campaign"
        else ["migrate", "start", "--to-account", ACCOUNT, "--from-account", "AC" + "b" * 32]
    )

    result = _simops(*arguments, "--notify", url, SIMOPS_NOTIFY_SECRET=TEST_NOTIFY_SECRET)

    _refused(result, "--notify", problem)


def test_notify_without_a_secret_is_refused() -> None:
    result = _simops(
        "campaign", "start", "--action", "activate", "--status", "new",
        "--notify", "https://example.com/hook",
    )  # fmt: skip

    _refused(result, "--notify needs SIMOPS_NOTIFY_SECRET")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (" " * 20, "is blank"),
        ("whsec_c2hvcnQ=", "shorter than 16 characters"),
        ("whsec_not base64 at all!!", "is not whsec_ followed by base64"),
        ("whsec_c2hvcnRrZXk=", "decodes to 8 bytes"),
    ],
)
def test_a_blank_short_or_malformed_secret_is_refused_at_start_up(
    secret: str, problem: str
) -> None:
    result = _simops("campaign", "list", SIMOPS_NOTIFY_SECRET=secret)

    _refused(result, "SIMOPS_NOTIFY_SECRET", problem)
    assert secret.strip() == "" or secret not in result.output


def test_notify_urls_for_every_campaign_need_a_secret_and_http() -> None:
    unsigned = _simops("campaign", "list", SIMOPS_NOTIFY_URLS="https://example.com/hook")
    not_http = _simops(
        "campaign",
        "list",
        SIMOPS_NOTIFY_URLS="https://example.com/a,mailto:ops@example.com",
        SIMOPS_NOTIFY_SECRET=TEST_NOTIFY_SECRET,
    )

    _refused(unsigned, "SIMOPS_NOTIFY_URLS", "needs SIMOPS_NOTIFY_SECRET")
    _refused(not_http, "SIMOPS_NOTIFY_URLS", "'mailto:ops@example.com' is not an http or https URL")
