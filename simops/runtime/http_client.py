"""A lean HTTP/1.1 client: keep-alive connections per origin, whole responses, nothing more.

Every SIM of a campaign costs the worker two API requests and the emulator one callback, and
aiohttp's `ClientSession.request` spends about 100 µs of CPU on each (cookies, redirects, trace
hooks, its streaming response objects), three times what a request needs. This client does only
what simops' requests use: a method, a URL, headers and a small body out; a status, headers and
the whole body back (`Content-Length`, chunked, or until the server closes), over plain TCP or
TLS, with a total timeout per request. It follows no redirect, sends no cookie and asks for no
compression.

A connection that the server closed while idle is noticed before reuse (its `connection_lost`
has run) or, when the close crosses the request on the wire, raises `HttpConnectionError` like
any connection failure: whether a write arrived is then unknown, which the caller handles as it
handles a lost answer.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

IDLE_SECONDS = 10.0
"""An idle connection older than this is closed rather than reused: servers close theirs after
a keep-alive timeout of their own (aiohttp's 75 s, many proxies' 15 s)."""
NO_BODY_STATUSES = frozenset({204, 304})


class HttpConnectionError(Exception):
    """No whole response: the connection failed, closed early or answered something that is
    not HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A whole response: status, headers and body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class _ResponseParser:
    """Parses one response at a time from the bytes a connection receives."""

    def __init__(self, *, head_request: bool) -> None:
        self._head_request = head_request
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self._length: int | None = None
        self._chunked = False
        self._until_close = False
        self._head_done = False
        self._body = bytearray()
        self.keep_alive = True

    def feed(self, buffer: bytearray, *, eof: bool = False) -> HttpResponse | None:
        """Consume what `buffer` holds of the response; the response once it is whole."""
        if not self._head_done and not self._parse_head(buffer):
            return None
        if self._chunked:
            return self._feed_chunks(buffer)
        if self._until_close:
            self._body += buffer
            del buffer[:]
            return self._response() if eof else None
        assert self._length is not None
        if len(buffer) < self._length:
            return None
        self._body = buffer[: self._length]
        del buffer[: self._length]
        return self._response()

    def _parse_head(self, buffer: bytearray) -> bool:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HttpConnectionError(f"not an HTTP/1.1 response: {lines[0][:80]!r}")
        self.status = int(code)
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise HttpConnectionError(f"malformed response header: {line[:80]!r}")
            self.headers.add(name.strip(), value.strip())
        if 100 <= self.status < 200:
            # An interim answer (100 Continue): the real one follows.
            self.headers = CIMultiDict()
            return self._parse_head(buffer)
        self._head_done = True
        connection = self.headers.get("Connection", "").lower()
        self.keep_alive = version == "HTTP/1.1" and connection != "close"
        if self._head_request or self.status in NO_BODY_STATUSES:
            self._length = 0
        elif "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._chunked = True
        elif (length := self.headers.get("Content-Length")) is not None:
            if not length.strip().isdigit():
                raise HttpConnectionError(f"malformed Content-Length: {length[:40]!r}")
            self._length = int(length)
        else:
            self._until_close = True
            self.keep_alive = False
        return True

    def _feed_chunks(self, buffer: bytearray) -> HttpResponse | None:
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return None
            size_text = bytes(buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpConnectionError(f"malformed chunk size: {size_text[:20]!r}") from None
            if size == 0:
                # The last chunk, then optional trailers, then an empty line.
                trailers_end = buffer.find(b"\r\n\r\n", line_end)
                if trailers_end < 0:
                    return None
                del buffer[: trailers_end + 4]
                return self._response()
            chunk_end = line_end + 2 + size
            if len(buffer) < chunk_end + 2:
                return None
            self._body += buffer[line_end + 2 : chunk_end]
            del buffer[: chunk_end + 2]

    def _response(self) -> HttpResponse:
        return HttpResponse(self.status, CIMultiDictProxy(self.headers), bytes(self._body))


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request on it at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._buffer = bytearray()
        self._parser: _ResponseParser | None = None
        self._waiter: asyncio.Future[HttpResponse] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to write requests on."""
        # uvloop's TCP transport does not derive from `asyncio.Transport`, but is one.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, *, head_request: bool) -> asyncio.Future[HttpResponse]:
        """Write one request; the future of its whole response."""
        assert self.transport is not None
        self._parser = _ResponseParser(head_request=head_request)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        """Parse what came; answer the waiter once the response is whole."""
        if self._parser is None:
            # Bytes nobody asked for: the connection can no longer be trusted.
            self.abort()
            return
        self._buffer += data
        self._parse(eof=False)

    def eof_received(self) -> bool:
        """The server closed its side: a response read until the close is now whole."""
        if self._parser is not None:
            self._parse(eof=True)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail a request still waiting; the pool drops the connection."""
        self.closed = True
        self._fail(HttpConnectionError(f"connection closed: {exc or 'by the server'}"))

    def abort(self) -> None:
        """Close at once (a timeout, a cancelled request, a protocol error)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _parse(self, *, eof: bool) -> None:
        assert self._parser is not None
        try:
            response = self._parser.feed(self._buffer, eof=eof)
        except HttpConnectionError as error:
            self._fail(error)
            self.abort()
            return
        if response is None:
            if eof:
                self._fail(HttpConnectionError("connection closed before the whole response"))
            return
        if not self._parser.keep_alive or self._buffer:
            self.abort()
        self._parser = None
        self.idle_since = time.monotonic()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: HttpConnectionError) -> None:
        waiter, self._waiter = self._waiter, None
        self._parser = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class HttpClient:
    """Requests over pooled keep-alive connections, one pool per origin.

    `timeout_seconds` bounds each request from asking for a connection to the last byte of
    the response. Made and used inside one event loop; `close` closes every connection.
    """

    def __init__(
        self,
        *,
        timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self._default_headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._busy: set[_Connection] = set()

    async def request(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_seconds: float | None = None,
    ) -> HttpResponse:
        """Send one request and read its whole response.

        Raises `HttpConnectionError` when no whole response came, `TimeoutError` when it did
        not come within the timeout.
        """
        origin = (url.scheme, url.raw_host or "", url.explicit_port or url.port or 80)
        host = url.raw_host or ""
        if url.explicit_port is not None:
            host = f"{host}:{url.explicit_port}"
        lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1\r\nHost: {host}\r\n"]
        lines.append(self._default_headers)
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}\r\n")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("latin-1") + (body or b"")
        async with asyncio.timeout(timeout_seconds or self.timeout_seconds):
            connection = await self._connection(origin)
            self._busy.add(connection)
            try:
                response = await connection.send(request, head_request=method == "HEAD")
            except BaseException:
                connection.abort()
                raise
            finally:
                self._busy.discard(connection)
        if not connection.closed:
            self._idle.setdefault(origin, deque()).append(connection)
        return response

    async def _connection(self, origin: tuple[str, str, int]) -> _Connection:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            # The most recently used first: the likeliest still open on the server's side.
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.abort()
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
        elif scheme != "http":
            raise HttpConnectionError(f"unsupported URL scheme {scheme!r}")
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, host, port, ssl=context
            )
        except (OSError, ssl.SSLError) as error:
            raise HttpConnectionError(f"cannot connect to {host}:{port}: {error}") from error
        return connection

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()
        for connection in self._busy:
            connection.abort()
        self._busy.clear()
