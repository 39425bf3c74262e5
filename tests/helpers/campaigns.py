"""Campaign test helpers: SIMs to change, source files, specs, reports and the emulator's record."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from simops.campaigns.reports import write_report
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.campaigns.store.campaign_store import CampaignStore
from simops.cli.campaign import build_spec
from simops.clients.campaigns import CampaignHandle, start_campaign
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack
from simops.supersim.resources import Sim


async def new_sims(stack: LocalStack, count: int) -> list[Sim]:
    """`count` SIMs still `new` in the emulator's parent account."""
    return [sim async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=count)]


def write_lines(path: Path, lines: list[str]) -> Path:
    """A source file of one line per entry."""
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


async def new_sims_file(stack: LocalStack, tmp_path: Path, count: int) -> Path:
    """A source file `sims.csv` in `tmp_path` of the SIDs of `count` new SIMs."""
    sims = await new_sims(stack, count)
    return write_lines(tmp_path / "sims.csv", [sim.sid for sim in sims])


def spec(campaign_id: str, action: CampaignAction, **fields: Any) -> CampaignSpec:
    """A campaign spec reading `sims.csv`, in batches of 10 unless `fields` say otherwise."""
    fields.setdefault("source", CampaignSource(file_name="sims.csv"))
    fields.setdefault("batch_size", 10)
    return CampaignSpec(campaign_id=campaign_id, action=action, **fields)


def command_line_spec(**options: Any) -> CampaignSpec:
    """The spec `simops campaign start` builds from `options` (`action` at least): campaign
    `c1`, concurrency 10 and no other option unless `options` say otherwise."""
    arguments: dict[str, Any] = {
        "campaign_id": "c1",
        "from_file": None,
        "status": None,
        "fleet": None,
        "filter_fleet": None,
        "rate": None,
        "concurrency": 10,
        "max_failures": None,
        "canary": 0,
    }
    arguments.update(options)
    return build_spec(**arguments)


async def start_activation(
    stack: LocalStack, tmp_path: Path, campaign_id: str, sim_count: int, **fields: Any
) -> CampaignHandle:
    """Start activating `sim_count` new SIMs into the first Fleet, from a file of their SIDs."""
    source = await new_sims_file(stack, tmp_path, sim_count)
    campaign = spec(
        campaign_id, CampaignAction.ACTIVATE, fleet=stack.emulator.parent.fleets[0], **fields
    )
    return await start_campaign(stack.client, stack.settings, campaign, source)


def report(stack: LocalStack, campaign_id: str) -> list[dict[str, str]]:
    """The campaign's CSV report as rows of strings, read from its store."""
    store = CampaignStore.open(stack.settings.campaign_dir, campaign_id)
    out = io.StringIO()
    try:
        write_report(store.report_rows(), out, "csv")
    finally:
        store.close()
    return list(csv.DictReader(io.StringIO(out.getvalue())))
