"""aiohttp apps served for tests on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from yarl import URL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[URL]:
    """Serve `app` on a free loopback port until the block ends; its root URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield URL.build(scheme="http", host="127.0.0.1", port=runner.addresses[0][1])
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serving_every_path(handler: Handler) -> AsyncIterator[URL]:
    """Serve one `handler` for every method and path; the server's root URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with serving(app) as root:
        yield root
