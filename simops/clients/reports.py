"""A campaign's report written for a server to stream: the dashboard's downloads and the JSON
API's `…/report` write it the way `simops campaign report` does, to a file they then send."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

from simops.campaigns.reports import write_report
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignStoreError
from simops.runtime.settings import SimopsSettings

REPORT_MEDIA_TYPES = {"csv": "text/csv", "json": "application/json"}
"""The media type of each report format."""


def write_report_to(settings: SimopsSettings, campaign_id: str, fmt: str, out: IO[bytes]) -> bool:
    """Write the campaign's report as `fmt` (csv or json) to `out`, UTF-8; `False` when this
    machine has no store of it. The dashboard writes it to a temporary file, so that a million
    rows never sit in memory nor hold the event loop."""
    try:
        store = CampaignStore.open(store_backend(settings), campaign_id)
    except CampaignStoreError:
        return False
    with store:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        write_report(store.report_rows(), text, fmt)
        text.flush()
        # Leave `out` open for its owner to read back.
        text.detach()
    return True


def read_chunks(spool: IO[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """The file's content, `size` bytes at a time."""
    while chunk := spool.read(size):
        yield chunk
