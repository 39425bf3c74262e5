"""The lean HTTP/1.1 client against real servers: an aiohttp app and raw sockets answering
what aiohttp never would (chunks, a close instead of a length, garbage)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop
from aiohttp import web
from yarl import URL

from simops.runtime.http_client import HttpClient, HttpConnectionError
from tests.helpers.http_servers import serving_every_path

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_server(answer: Answer) -> tuple[asyncio.Server, URL]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, URL(f"http://127.0.0.1:{port}/v1/Sims")


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


@pytest.fixture
async def app_url() -> AsyncIterator[URL]:
    connections: set[object] = set()

    async def echo(request: web.Request) -> web.Response:
        assert request.transport is not None
        connections.add(request.transport)
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path_qs": request.path_qs,
                "body": body.decode(),
                "headers": dict(request.headers),
                "connections": len(connections),
            },
            status=int(request.query.get("status", "200")),
        )

    async with serving_every_path(echo) as root:
        yield root / "v1"


async def test_requests_reuse_one_keep_alive_connection(app_url: URL) -> None:
    http = HttpClient(timeout_seconds=5, headers={"Accept": "application/json"})
    try:
        first = await http.request(
            "POST",
            app_url / "Sims" / "HS1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"Status=active",
        )
        second = await http.request("GET", URL(f"{app_url}/Sims?Status=new&PageSize=5"))
        refused = await http.request("GET", URL(f"{app_url}/Sims?status=404"))
    finally:
        await http.close()
    echoed = [response.headers["Content-Type"] for response in (first, second)]
    assert echoed == ["application/json; charset=utf-8"] * 2
    posted, listed = json.loads(first.body), json.loads(second.body)
    assert posted["method"] == "POST" and posted["body"] == "Status=active", posted
    assert posted["headers"]["Accept"] == "application/json", posted
    assert listed["path_qs"] == "/v1/Sims?Status=new&PageSize=5", listed
    assert listed["connections"] == 1, "the second request opened a new connection"
    assert refused.status == 404


def test_the_client_runs_on_uvloop() -> None:
    """Every simops process runs uvloop (`simops.runtime.event_loop`), whose transports are
    not `asyncio.Transport` subclasses."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def two_requests() -> list[bytes]:
        server, url = await raw_server(answer)
        http = HttpClient(timeout_seconds=5)
        try:
            return [(await http.request("GET", url)).body for _ in range(2)]
        finally:
            await http.close()
            server.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(two_requests()) == [b"ok", b"ok"]


async def test_chunked_and_until_close_bodies_are_read_whole() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"the close")
        writer.close()

    server, url = await raw_server(answer)
    http = HttpClient(timeout_seconds=5)
    try:
        chunked = await http.request("GET", url)
        until_close = await http.request("GET", url)
    finally:
        await http.close()
        server.close()
    assert chunked.body == b"hello world"
    assert until_close.body == b"until the close"


async def test_a_connection_closed_by_the_server_while_idle_is_not_reused() -> None:
    connections = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server, url = await raw_server(answer)
    http = HttpClient(timeout_seconds=5)
    try:
        answers = []
        for _ in range(3):
            answers.append((await http.request("GET", url)).body)
            # The server's FIN reaches the idle connection before the next request.
            await asyncio.sleep(0.05)
    finally:
        await http.close()
        server.close()
    assert answers == [b"ok"] * 3
    assert connections == 3


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["not-http", "closed-early", "bad-header", "bad-chunk"],
)
async def test_an_answer_that_is_not_a_whole_response_is_a_connection_error(reply: bytes) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server, url = await raw_server(answer)
    http = HttpClient(timeout_seconds=5)
    try:
        with pytest.raises(HttpConnectionError):
            await http.request("GET", url)
    finally:
        await http.close()
        server.close()


async def test_no_answer_within_the_timeout_raises_and_drops_the_connection() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if answered:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
            return
        answered.append(True)
        await asyncio.sleep(0.4)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
        await asyncio.sleep(5)

    answered: list[bool] = []
    server, url = await raw_server(answer)
    http = HttpClient(timeout_seconds=0.2)
    try:
        with pytest.raises(TimeoutError):
            await http.request("GET", url)
        await asyncio.sleep(0.3)
        # On the timed-out connection, the late answer would be read as this one's.
        assert (await http.request("GET", url)).body == b"fresh"
    finally:
        await http.close()
        server.close()


async def test_a_refused_connection_is_a_connection_error() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server, url = await raw_server(answer)
    server.close()
    await server.wait_closed()
    http = HttpClient(timeout_seconds=5)
    try:
        with pytest.raises(HttpConnectionError, match="cannot connect"):
            await http.request("GET", url)
    finally:
        await http.close()
