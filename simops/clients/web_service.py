"""What the dashboard and the JSON API share as aiohttp services on a Temporal client: serving
an app until told to stop, and streaming a campaign's report."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable

from aiohttp import web
from temporalio.client import Client

from simops.clients.reports import REPORT_MEDIA_TYPES, read_chunks, write_report_to
from simops.observability.tracing import client_interceptors
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import connect_when_up

log = logging.getLogger(__name__)

AppBuilder = Callable[[SimopsSettings, Client], web.Application]
"""Builds a service's app on the settings and a connected Temporal client."""


async def serve_app(
    build: AppBuilder,
    settings: SimopsSettings,
    stop: asyncio.Event,
    host: str,
    port: int,
    *,
    name: str,
    started: asyncio.Event | None = None,
) -> None:
    """Serve `build`'s app (a service called `name`, for the log) on `host`:`port` until `stop`
    is set, once Temporal answers; `started` is set once it listens."""
    client = await connect_when_up(settings, stop, client_interceptors(settings))
    if client is None:
        return
    runner = web.AppRunner(build(settings, client), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("%s on %s:%d", name, host, port)
        if started is not None:
            started.set()
        await stop.wait()
    finally:
        await runner.cleanup()


async def stream_report(
    request: web.Request, settings: SimopsSettings, campaign_id: str, fmt: str
) -> web.StreamResponse | None:
    """The campaign's report as `fmt` (csv or json), written to a file first and streamed from
    it, so that a million rows never sit in memory; `None` when this machine has no store of
    the campaign."""
    with tempfile.TemporaryFile() as spool:
        if not await asyncio.to_thread(write_report_to, settings, campaign_id, fmt, spool):
            return None
        spool.seek(0)
        response = web.StreamResponse(
            headers={
                "Content-Type": f"{REPORT_MEDIA_TYPES[fmt]}; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{campaign_id}-report.{fmt}"',
            }
        )
        await response.prepare(request)
        chunks = read_chunks(spool)
        while chunk := await asyncio.to_thread(next, chunks, b""):
            await response.write(chunk)
        await response.write_eof()
        return response
