"""Running the callback ingress: `simops callbacks` (which `simops dev` starts too)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from simops.callbacks.ingress import CallbackIngress, TemporalSignaller, check_provider_secrets
from simops.observability.health import Readiness, temporal_reachable
from simops.observability.tracing import client_interceptors
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import connect_when_up

log = logging.getLogger(__name__)


async def run_ingress(
    settings: SimopsSettings,
    stop: asyncio.Event,
    readiness: Readiness | None = None,
    *,
    allow_unsigned: bool = False,
) -> None:
    """Serve callbacks on the configured host and port until `stop` is set (waiting for
    Temporal to answer first); `UnsignedCallbacksError` at once, before anything else, when it
    could not verify an account's callbacks and `allow_unsigned` is not set. Ready, in
    `readiness`, while it serves and Temporal answers."""
    check_provider_secrets(settings, allow_unsigned)
    readiness = readiness or Readiness()
    readiness.waiting("ingress", "waiting for Temporal")
    client = await connect_when_up(settings, stop, client_interceptors(settings))
    if client is None:
        return
    ingress = CallbackIngress(settings, TemporalSignaller(client), allow_unsigned=allow_unsigned)
    runner = web.AppRunner(ingress.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.callback_host, settings.callback_port)
    await site.start()
    readiness.check("ingress", temporal_reachable(client))
    log.info("callback ingress on http://%s:%s", settings.callback_host, settings.callback_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
