"""One HTTP exchange with the API or its token endpoint, failures typed as `TransportError`."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from yarl import URL

from simops.runtime.http_client import HttpClient, HttpConnectionError, HttpResponse
from simops.supersim.errors import TransportError
from simops.supersim.wire import FormParameters

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

Exchange = HttpResponse
"""A complete response: status, headers and the whole body."""


async def exchange(
    http: HttpClient,
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str],
    params: FormParameters | None = None,
    form: FormParameters | None = None,
) -> Exchange:
    """Send one request and read the whole response; no answer at all is a `TransportError`.

    The error names the method and path only: a query string may carry an ICCID.
    """
    body: bytes | None = None
    if form is not None:
        body = urlencode(form).encode()
        headers = {**headers, "Content-Type": FORM_CONTENT_TYPE}
    if params:
        url = URL(f"{url}{'&' if url.raw_query_string else '?'}{urlencode(params)}", encoded=True)
    try:
        return await http.request(method, url, headers=headers, body=body)
    except TimeoutError as error:
        raise TransportError(f"{method} {url.path}: no answer within the timeout") from error
    except HttpConnectionError as error:
        raise TransportError(f"{method} {url.path} failed: {error}") from error
