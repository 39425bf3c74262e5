"""The JSON API's aiohttp app, on the CLI's settings, Temporal client and campaign store, run by
`simops serve`.

A sibling of the dashboard rather than a part of it (docs/decisions.md): its callers are
programs with bearer tokens and scopes, not browsers with a login cookie and CSRF tokens, and
every answer it gives, errors included, is JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from temporalio.client import Client

from simops.api.auth import ApiGuard, check_api_bind
from simops.api.campaigns import API_CONTEXT, ApiContext, CampaignResource
from simops.api.models import CampaignKind
from simops.api.openapi import OPENAPI_PATH, openapi_document
from simops.api.problems import problems_middleware
from simops.clients.web_service import serve_app
from simops.runtime.settings import SimopsSettings

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790
MAX_JSON_BODY_BYTES = 64 << 20
"""The largest JSON body (a million inline rows take about 60 MiB); uploads are streamed."""
OPENAPI_DOCUMENT = web.AppKey("openapi_document", str)


def api_url(host: str, port: int) -> str:
    """Where a program on this machine finds the API."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/api/v1"


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API."""
    return web.Response(text=request.app[OPENAPI_DOCUMENT], content_type="application/json")


def build_api_app(settings: SimopsSettings, client: Client) -> web.Application:
    """The API's app; `ApiConfigError` comes from `check_api_bind`, before it is built."""
    guard = ApiGuard(settings.api_tokens, public_paths=frozenset({OPENAPI_PATH}))
    # Problems outermost, so that the guard's refusals are problem details too.
    app = web.Application(
        middlewares=[problems_middleware, guard.middleware], client_max_size=MAX_JSON_BODY_BYTES
    )
    app[API_CONTEXT] = ApiContext(settings, client)
    # Generated once: it depends on the code only.
    app[OPENAPI_DOCUMENT] = json.dumps(openapi_document())
    app.router.add_get(OPENAPI_PATH, openapi)
    for kind in CampaignKind:
        app.add_routes(CampaignResource(kind).routes())
    return app


async def run_api(
    settings: SimopsSettings,
    stop: asyncio.Event,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    started: asyncio.Event | None = None,
) -> None:
    """Serve the API on `host`:`port` until `stop` is set (waiting for Temporal to answer
    first); `ApiConfigError` at once when it may not listen there. `started` is set once it
    listens."""
    check_api_bind(host, settings.api_tokens)
    await serve_app(build_api_app, settings, stop, host, port, name="JSON API", started=started)
