"""The campaign dashboard: an aiohttp app on the CLI's settings, Temporal client and campaign
store, run by `simops ui` or inside `simops dev`.

Templates and static files ship in the package (no build step, nothing fetched at run time);
Jinja2 escapes every value it renders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from temporalio.client import Client

from simops.clients.web_service import serve_app
from simops.runtime.settings import SimopsSettings
from simops.ui.campaigns import Dashboard
from simops.ui.security import CSRF_FIELD, Guard, check_bind, ui_token
from simops.ui.views import DASHBOARD, GUARD, routes

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8789
PACKAGE_DIR = Path(__file__).parent


def ui_url(host: str, port: int) -> str:
    """Where a browser on this machine finds the dashboard."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def when(moment: datetime | None) -> str:
    """A time as the dashboard shows every time: UTC, to the second (empty when unknown)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def duration(seconds: float | None) -> str:
    """`2 h 05 min`, `3 min 20 s` or `42 s` (empty when unknown)."""
    if seconds is None:
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def number(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators (empty when unknown)."""
    return "" if value is None else f"{value:,.{digits}f}"


FILTERS: dict[str, Callable[..., str]] = {"when": when, "duration": duration, "number": number}
"""How templates show times, durations and numbers."""


async def _csrf(request: web.Request) -> dict[str, Any]:
    return {"csrf_field": CSRF_FIELD, "csrf_token": request.app[GUARD].csrf_token(request)}


def build_app(settings: SimopsSettings, client: Client) -> web.Application:
    """The dashboard's app; `UiConfigError` comes from `check_bind`, before it is built."""
    guard = Guard(ui_token(settings))
    app = web.Application(middlewares=[guard.middleware])
    app[GUARD] = guard
    app[DASHBOARD] = Dashboard(settings, client)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        context_processors=[_csrf],
        filters=FILTERS,
    )
    app.add_routes(routes)
    app.router.add_static("/static/", PACKAGE_DIR / "static")
    return app


async def run_ui(
    settings: SimopsSettings,
    stop: asyncio.Event,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    started: asyncio.Event | None = None,
) -> None:
    """Serve the dashboard on `host`:`port` until `stop` is set (waiting for Temporal to answer
    first); `UiConfigError` at once when it may not listen there. `started` is set once it
    listens."""
    check_bind(host, ui_token(settings))
    await serve_app(
        build_app, settings, stop, host, port, name="campaign dashboard", started=started
    )
