"""List pages as the API serves them: `PageSize`, `Page`, an opaque `PageToken`, and `meta`.

A page token names a position (segment, index) in a listing whose positions never shift, e.g.
an account's Sim list with tombstones, and a direction. Reading the next page resumes from that
position, so paging through a million Sims with a `Status` filter is O(N) in total rather than
O(N) per page.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from simops.core.codes import RuleCode
from simops.emulator.errors import ApiError, invalid_parameter
from simops.emulator.forms import Params

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
TOKEN_PREFIX = "PT"

T = TypeVar("T")
Cursor = tuple[int, int]
"""A position in a listing: (segment, index)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The paging parameters of one list request."""

    page_size: int
    page: int
    token: str | None
    forward: bool
    cursor: Cursor


def encode_token(forward: bool, cursor: Cursor) -> str:
    """An opaque page token for reading forward from `cursor` (or backward before it)."""
    body = f"{'A' if forward else 'B'}:{cursor[0]}:{cursor[1]}"
    check = zlib.crc32(body.encode()) & 0xFFFF
    raw = f"{body}:{check:04x}".encode()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[bool, Cursor]:
    """The direction and cursor of a page token; 400 / 21481 if it is not one of ours."""
    bad = ApiError(400, RuleCode.BAD_PAGE_TOKEN, "Invalid PageToken")
    if not token.startswith(TOKEN_PREFIX) or len(token) > 80:
        raise bad
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        direction, segment, index, check = raw.split(":")
        body = f"{direction}:{segment}:{index}"
        valid = (
            direction in ("A", "B")
            and int(check, 16) == zlib.crc32(body.encode()) & 0xFFFF
            and int(segment) >= 0
            and int(index) >= 0
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not valid:
        raise bad
    return direction == "A", (int(segment), int(index))


def parse_page(params: Params) -> PageRequest:
    """`PageSize` (1..1000, default 50), `Page` (>= 0) and `PageToken` of a list request."""
    size_text = params.text("PageSize")
    page_size = DEFAULT_PAGE_SIZE
    if size_text is not None:
        try:
            page_size = int(size_text)
        except ValueError:
            raise invalid_parameter("PageSize", "must be an integer") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise invalid_parameter("PageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
    page = params.integer("Page", 0, 10_000_000) or 0
    token = params.text("PageToken") or None
    forward, cursor = (True, (0, 0)) if token is None else decode_token(token)
    return PageRequest(page_size=page_size, page=page, token=token, forward=forward, cursor=cursor)


class SegmentedSource(Generic[T]):
    """A listing over fixed-position segments (`None` entries are tombstones), filtered."""

    def __init__(self, segments: Sequence[Sequence[T | None]], keep: Callable[[T], bool]) -> None:
        self._segments = segments
        self._keep = keep

    def forward(self, start: Cursor) -> Iterator[tuple[Cursor, T]]:
        """Kept items at or after `start`, in order."""
        keep = self._keep
        for segment_index in range(start[0], len(self._segments)):
            segment = self._segments[segment_index]
            first = start[1] if segment_index == start[0] else 0
            for index in range(first, len(segment)):
                item = segment[index]
                if item is not None and keep(item):
                    yield (segment_index, index), item

    def backward(self, end: Cursor) -> Iterator[tuple[Cursor, T]]:
        """Kept items strictly before `end`, nearest first."""
        keep = self._keep
        last_segment = min(end[0], len(self._segments) - 1)
        for segment_index in range(last_segment, -1, -1):
            segment = self._segments[segment_index]
            stop = min(end[1], len(segment)) if segment_index == end[0] else len(segment)
            for index in range(stop - 1, -1, -1):
                item = segment[index]
                if item is not None and keep(item):
                    yield (segment_index, index), item


def _take(iterator: Iterator[tuple[Cursor, T]], count: int) -> list[tuple[Cursor, T]]:
    taken: list[tuple[Cursor, T]] = []
    for entry in iterator:
        taken.append(entry)
        if len(taken) >= count:
            break
    return taken


@dataclass(frozen=True, slots=True)
class PageLinks:
    """How to build the absolute URLs of a listing: origin, path and its filter parameters."""

    origin: str
    path: str
    filters: list[tuple[str, str]]

    def url(self, page_size: int, page: int, token: str | None) -> str:
        """The URL of one page."""
        query = [*self.filters, ("PageSize", str(page_size)), ("Page", str(page))]
        if token is not None:
            query.append(("PageToken", token))
        return f"{self.origin}{self.path}?{urlencode(query)}"


def page_of(
    source: SegmentedSource[T], request: PageRequest, links: PageLinks, key: str
) -> tuple[list[T], dict[str, Any]]:
    """The items of one page of `source` and the page's `meta`, `key` naming the array."""
    size = request.page_size
    if request.token is not None and not request.forward:
        window = _take(source.backward(request.cursor), size)
        window.reverse()
        after = window[-1][0] if window else request.cursor
        has_next = next(source.forward((after[0], after[1] + 1)), None) is not None
    else:
        forward = source.forward(request.cursor)
        if request.token is None and request.page > 0:
            skip = request.page * size
            if sum(1 for _ in itertools.islice(forward, skip)) < skip:
                forward = iter(())
        window = _take(forward, size + 1)
        has_next = len(window) > size
        window = window[:size]
    next_url = None
    if has_next and window:
        last = window[-1][0]
        next_token = encode_token(True, (last[0], last[1] + 1))
        next_url = links.url(size, request.page + 1, next_token)
    previous_url = None
    if request.page == 1:
        previous_url = links.url(size, 0, None)
    elif request.page > 1:
        first = window[0][0] if window else request.cursor
        previous_url = links.url(size, request.page - 1, encode_token(False, first))
    meta = {
        "first_page_url": links.url(size, 0, None),
        "key": key,
        "next_page_url": next_url,
        "page": request.page,
        "page_size": size,
        "previous_page_url": previous_url,
        "url": links.url(size, request.page, request.token),
    }
    return [item for _, item in window], meta


def paginate(
    source: SegmentedSource[T],
    request: PageRequest,
    links: PageLinks,
    key: str,
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `source` in the API's envelope, `key` naming the array."""
    items, meta = page_of(source, request, links, key)
    return {key: [render(item) for item in items], "meta": meta}
