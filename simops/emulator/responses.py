"""JSON responses and absolute URLs, built without pydantic on the hot path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from simops.emulator.forms import Params
from simops.emulator.pagination import PageLinks, SegmentedSource, paginate, parse_page

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


def list_response(
    request: web.Request,
    params: Params,
    source: SegmentedSource[T],
    key: str,
    filter_names: tuple[str, ...],
    render: Callable[[T], dict[str, Any]],
) -> web.Response:
    """One page of `source` in the list envelope; `filter_names` are echoed in the page URLs."""
    links = PageLinks(
        origin_of(request),
        request.path,
        [(name, value) for name in filter_names if (value := params.text(name)) is not None],
    )
    return json_response(paginate(source, parse_page(params), links, key, render))
