"""Who may use the JSON API: bearer tokens and their scopes, the loopback-only default, and
`simops serve` refusing to listen past loopback without tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from simops.api.app import build_api_app
from simops.api.auth import ApiConfigError, check_api_bind
from simops.cli import app
from simops.runtime.settings import SimopsSettings
from simops.runtime.tokens import parse_api_tokens
from tests.api.conftest import API_TOKENS, READ_TOKEN, WRITE_TOKEN, bearer

PROBLEM = "application/problem+json"
SPEC = {"spec": {"campaign_id": "nope", "action": "activate", "source": {"status": "new"}}}


def settings_for(tmp_path: Path, tokens: str | None) -> SimopsSettings:
    return SimopsSettings(
        _env_file=None,
        campaign_dir=tmp_path / "campaigns",
        api_tokens=parse_api_tokens(tokens) if tokens else [],
    )


@pytest.fixture
async def guarded(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[TestClient[Any, Any]]:
    """The API with a read and a write token, on the dev server's (empty) namespace."""
    api = build_api_app(settings_for(tmp_path, API_TOKENS), dev_env.client)
    async with TestClient(TestServer(api, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def open_api(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[TestClient[Any, Any]]:
    """The API without tokens (loopback only)."""
    api = build_api_app(settings_for(tmp_path, None), dev_env.client)
    async with TestClient(TestServer(api, host="127.0.0.1")) as client:
        yield client


async def test_no_token_or_a_wrong_one_is_a_401_problem(guarded: TestClient[Any, Any]) -> None:
    for headers in ({}, bearer("not-a-token-of-ours-at-all"), {"Authorization": WRITE_TOKEN}):
        response = await guarded.get("/api/v1/campaigns", headers=headers)
        problem = await response.json(content_type=PROBLEM)
        assert response.status == 401 and response.content_type == PROBLEM
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert problem["status"] == 401 and problem["type"].endswith("/unauthorized")
        assert WRITE_TOKEN not in await response.text()


async def test_a_read_only_token_may_get_but_not_post(guarded: TestClient[Any, Any]) -> None:
    listed = await guarded.get("/api/v1/campaigns", headers=bearer(READ_TOKEN))
    listed_body = await listed.json()
    refused = await guarded.post("/api/v1/campaigns", json=SPEC, headers=bearer(READ_TOKEN))
    problem = await refused.json(content_type=PROBLEM)
    pause = await guarded.post("/api/v1/migrations/x/pause", headers=bearer(READ_TOKEN))
    written = await guarded.post("/api/v1/campaigns/x/pause", headers=bearer(WRITE_TOKEN))

    assert listed.status == 200 and isinstance(listed_body["campaigns"], list)
    assert refused.status == 403 and refused.content_type == PROBLEM
    assert problem["type"].endswith("/read-only-token") and "grafana" in problem["detail"]
    assert pause.status == 403
    # The write token gets past the guard: to the handler, which finds no such campaign.
    assert written.status == 404 and written.content_type == PROBLEM


async def test_the_openapi_document_needs_no_token(guarded: TestClient[Any, Any]) -> None:
    response = await guarded.get("/api/v1/openapi.json")
    assert response.status == 200 and (await response.json())["openapi"] == "3.1.0"


async def test_without_tokens_only_loopback_names_and_same_origin_writes(
    open_api: TestClient[Any, Any],
) -> None:
    listed = await open_api.get("/api/v1/campaigns")
    rebound = await open_api.get("/api/v1/campaigns", headers={"Host": "evil.example"})
    cross = await open_api.post(
        "/api/v1/campaigns/x/pause", headers={"Origin": "http://evil.example"}
    )
    cross_problem = await cross.json(content_type=PROBLEM)

    assert listed.status == 200
    assert rebound.status == 421 and rebound.content_type == PROBLEM
    assert cross.status == 403 and cross_problem["type"].endswith("/cross-origin-write")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "api.example.com"])
def test_another_address_needs_tokens(host: str) -> None:
    with pytest.raises(ApiConfigError, match="without SIMOPS_API_TOKENS"):
        check_api_bind(host, [])
    check_api_bind(host, parse_api_tokens(API_TOKENS))
    check_api_bind("127.0.0.1", [])


def test_simops_serve_refuses_an_open_address_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMOPS_API_TOKENS", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "SIMOPS_API_TOKENS" in result.output
