"""A real HTTP server that records the callbacks it receives (and can fail the first ones)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class ReceivedCallback:
    """One request as the receiver saw it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, str]


@dataclass
class CallbackReceiver:
    """Listens on a free port; `failures` first requests are answered 500; each answer comes
    `hold_seconds` after its request, and `most_at_once` is the most requests held together."""

    failures: int = 0
    hold_seconds: float = 0.0
    most_at_once: int = 0
    _at_once: int = 0
    received: list[ReceivedCallback] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Start listening."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        params = dict(request.query) if request.method == "GET" else dict(await request.post())
        self.received.append(
            ReceivedCallback(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                body=body,
                params={name: str(value) for name, value in params.items()},
            )
        )
        self.arrived.set()
        self._at_once += 1
        self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            await asyncio.sleep(self.hold_seconds)
        finally:
            self._at_once -= 1
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=500)
        return web.Response(text="ok")

    async def wait_for(self, count: int, within: float = 5.0) -> list[ReceivedCallback]:
        """Wait until `count` callbacks have arrived."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received
