"""JSON responses and absolute URLs, built without pydantic on the hot path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from simops.emulator.forms import Params
from simops.emulator.pagination import PageLinks, SegmentedSource, page_of, paginate, parse_page

T = TypeVar("T")

JSON_CONTENT_TYPE = "application/json"


def json_response(body: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return encoded_json_response(json.dumps(body, separators=(",", ":")).encode(), status)


def encoded_json_response(body: bytes, status: int = 200) -> web.Response:
    """A response of JSON already encoded (e.g. by `render.sim_json_bytes`)."""
    return web.Response(body=body, status=status, content_type=JSON_CONTENT_TYPE)


def origin_of(request: web.Request) -> str:
    """`scheme://host[:port]` as the client addressed the emulator."""
    return f"{request.scheme}://{request.host}"


def api_root(request: web.Request) -> str:
    """The absolute `/v1` URL as the client addressed the emulator."""
    return f"{request.scheme}://{request.host}/v1"


def _page_links(request: web.Request, params: Params, filter_names: tuple[str, ...]) -> PageLinks:
    return PageLinks(
        origin_of(request),
        request.path,
        [(name, value) for name in filter_names if (value := params.text(name)) is not None],
    )


def list_response(
    request: web.Request,
    params: Params,
    source: SegmentedSource[T],
    key: str,
    filter_names: tuple[str, ...],
    render: Callable[[T], dict[str, Any]],
) -> web.Response:
    """One page of `source` in the list envelope; `filter_names` are echoed in the page URLs."""
    links = _page_links(request, params, filter_names)
    return json_response(paginate(source, parse_page(params), links, key, render))


def encoded_list_response(
    request: web.Request,
    params: Params,
    source: SegmentedSource[T],
    key: str,
    filter_names: tuple[str, ...],
    render: Callable[[T], bytes],
) -> web.Response:
    """`list_response` with each item already encoded by `render` (as `json.dumps` would
    write it compactly), byte for byte the same body: listing a million Sims spends most of
    the emulator's time encoding them, a third of it this way."""
    links = _page_links(request, params, filter_names)
    items, meta = page_of(source, parse_page(params), links, key)
    body = b"".join(
        (
            b"{",
            json.dumps(key).encode(),
            b":[",
            b",".join([render(item) for item in items]),
            b'],"meta":',
            json.dumps(meta, separators=(",", ":")).encode(),
            b"}",
        )
    )
    return encoded_json_response(body)
