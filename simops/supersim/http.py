"""One HTTP exchange with the API or its token endpoint, failures typed as `TransportError`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from simops.supersim.errors import TransportError
from simops.supersim.wire import FormParameters

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Exchange:
    """A complete response: status, headers and the whole body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str],
    params: FormParameters | None = None,
    form: FormParameters | None = None,
    client_timeout: aiohttp.ClientTimeout,
) -> Exchange:
    """Send one request and read the whole response; no answer at all is a `TransportError`.

    `client_timeout` applies even on a session the caller made with other defaults. The error
    names the method and path only: a query string may carry an ICCID.
    """
    body: bytes | None = None
    if form is not None:
        # Encoded here rather than by aiohttp's FormData, which costs several times more CPU
        # per request: at thousands of updates a second the client's core is the bottleneck.
        body = urlencode(form).encode()
        headers = {**headers, "Content-Type": FORM_CONTENT_TYPE}
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            params=params,
            data=body,
            timeout=client_timeout,
        ) as response:
            body = await response.read()
            return Exchange(response.status, response.headers, body)
    except TimeoutError as error:
        raise TransportError(f"{method} {url.path}: no answer within the timeout") from error
    except (aiohttp.ClientError, asyncio.IncompleteReadError) as error:
        raise TransportError(
            f"{method} {url.path} failed: {type(error).__name__}: {error}"
        ) from error
