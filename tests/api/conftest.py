"""JSON API test fixtures: a real local stack (Temporal dev server, emulator, worker) with the
API's app served on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from temporalio.testing import WorkflowEnvironment

from simops.api.app import build_api_app
from simops.devstack.in_process import LocalStack
from simops.runtime.tokens import parse_api_tokens
from tests.helpers.stacks import campaign_test_stack

WRITE_TOKEN = "write-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
API_TOKENS = f"pipeline:write:{WRITE_TOKEN},grafana:read:{READ_TOKEN}"


@pytest.fixture
async def api_stack(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> AsyncIterator[LocalStack]:
    """The local stack on 40 new SIMs, its campaigns stored under the test's directory."""
    emulator = await emulator_factory(seed_sims=40, scheduled_delay=(0.05, 0.1))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        yield stack


@asynccontextmanager
async def api_client(
    stack: LocalStack, *, tokens: str | None = None, port: int | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the API on the stack's settings (with `tokens` as SIMOPS_API_TOKENS)."""
    settings = stack.settings
    if tokens is not None:
        settings = settings.model_copy(update={"api_tokens": parse_api_tokens(tokens)})
    app = build_api_app(settings, stack.client)
    server = TestServer(app, host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The header that carries `token`."""
    return {"Authorization": f"Bearer {token}"}
