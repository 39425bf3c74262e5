"""Running the callback ingress: `simops callbacks` (which `simops dev` starts too)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from simops.callbacks.ingress import CallbackIngress, TemporalSignaller
from simops.settings import SimopsSettings
from simops.temporal import connect

log = logging.getLogger(__name__)


async def run_ingress(settings: SimopsSettings, stop: asyncio.Event) -> None:
    """Serve callbacks on the configured host and port until `stop` is set."""
    client = await connect(settings)
    ingress = CallbackIngress(settings, TemporalSignaller(client))
    runner = web.AppRunner(ingress.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.callback_host, settings.callback_port)
    await site.start()
    log.info("callback ingress on http://%s:%s", settings.callback_host, settings.callback_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
