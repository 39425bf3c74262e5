"""Dashboard test fixtures: a real local stack (Temporal dev server, emulator, worker) with the
dashboard's app served on a free loopback port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.clients.campaigns import CampaignHandle, start_campaign
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack
from simops.ui.app import build_app
from tests.helpers.stacks import campaign_test_stack

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@pytest.fixture
async def ui_stack(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> AsyncIterator[LocalStack]:
    """The local stack on 40 new SIMs, its campaigns stored under the test's directory."""
    emulator = await emulator_factory(seed_sims=40, scheduled_delay=(0.05, 0.1))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        yield stack


@asynccontextmanager
async def dashboard(stack: LocalStack, **settings: Any) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the dashboard on the stack's settings (with `settings` changed)."""
    app = build_app(stack.settings.model_copy(update=settings), stack.client)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def start_file_campaign(
    stack: LocalStack,
    directory: Path,
    campaign_id: str,
    action: CampaignAction,
    references: list[str],
    **fields: Any,
) -> CampaignHandle:
    """Start a campaign over `references` (one a line, from a file)."""
    source = directory / f"{campaign_id}.csv"
    source.write_text("sim\n" + "".join(f"{reference}\n" for reference in references))
    fields.setdefault("batch_size", 5)
    spec = CampaignSpec(
        campaign_id=campaign_id,
        action=action,
        source=CampaignSource(file_name=source.name),
        **fields,
    )
    return await start_campaign(stack.client, stack.settings, spec, source)


async def new_sids(stack: LocalStack, count: int) -> list[str]:
    """SIDs of `count` SIMs still `new`."""
    sids = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=count)]
    assert len(sids) == count
    return sids
