"""Request parameters: form bodies and query strings, checked the way the API checks them.

Every syntax problem becomes a 400 / 20001 naming the parameter; parameters the API does not
know are ignored, as the real API does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from simops.core.codes import RuleCode
from simops.emulator.errors import ApiError, EmulatorCode, invalid_parameter

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 200
MAX_VALUE_LENGTH = 2048
MAX_CACHED_BODY_BYTES = 1024
"""Form bodies up to this size are parsed once: a campaign sends the same activation body (its
callback URL percent-encoded) for every Sim, and `parse_qsl` was a fifth of `update_sim`."""

EnumT = TypeVar("EnumT", bound=Enum)


class Params:
    """The parameters of one request (last value wins for a repeated single-valued name)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            if len(value) > MAX_VALUE_LENGTH:
                raise invalid_parameter(name[:64], f"longer than {MAX_VALUE_LENGTH} characters")
            self._values.setdefault(name, []).append(value)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def text(self, name: str) -> str | None:
        """The value of `name`, or None when absent."""
        values = self._values.get(name)
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        """Every value of a repeatable parameter (e.g. `Networks`)."""
        return list(self._values.get(name, []))

    def required(self, name: str, code: int) -> str:
        """The non-empty value of a required parameter, else 400 with `code`."""
        value = self.text(name)
        if not value:
            raise ApiError(400, code, f"Missing required parameter {name}")
        return value

    def choice(self, name: str, enum: type[EnumT]) -> EnumT | None:
        """The value of `name` as a member of `enum` (matched case-insensitively)."""
        value = self.text(name)
        if value is None:
            return None
        member: EnumT | None = _members_by_lowercase(enum).get(value.lower())
        if member is None:
            allowed = ", ".join(str(item.value) for item in enum)
            raise invalid_parameter(name, f"{value[:40]!r} is not one of {allowed}")
        return member

    def restricted(self, name: str, allowed: Mapping[str, EnumT]) -> EnumT | None:
        """The value of `name`, which must be one of `allowed`'s keys."""
        value = self.text(name)
        if value is None:
            return None
        member = allowed.get(value)
        if member is None:
            raise invalid_parameter(name, f"{value[:40]!r} is not one of {', '.join(allowed)}")
        return member

    def boolean(self, name: str) -> bool | None:
        """A `true`/`false` parameter."""
        value = self.text(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid_parameter(name, "must be true or false")
        return lowered == "true"

    def integer(self, name: str, low: int, high: int) -> int | None:
        """An integer parameter within [low, high]."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise invalid_parameter(name, "must be an integer") from None
        if not low <= number <= high:
            raise invalid_parameter(name, f"must be between {low} and {high}")
        return number

    def url(self, name: str) -> str | None:
        """An absolute http(s) URL parameter."""
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid_parameter(name, "must be an absolute http or https URL")
        return value


@functools.cache
def _members_by_lowercase(enum: type[EnumT]) -> dict[str, EnumT]:
    # Built once per enum: iterating an Enum on every request cost more than the lookup.
    return {str(member.value).lower(): member for member in enum}


def query_params(request: web.Request) -> Params:
    """The query string of a request."""
    return Params(list(request.query.items()))


async def form_params(request: web.Request) -> Params:
    """The form-encoded body of a POST (an empty body is no parameters)."""
    if request.content_length == 0 or (
        request.content_length is None and not request.can_read_body
    ):
        return Params([])
    if request.content_type != FORM_CONTENT_TYPE:
        raw = await request.read()
        if not raw:
            return Params([])
        raise ApiError(
            415,
            EmulatorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported Content-Type {request.content_type[:64]!r}: send {FORM_CONTENT_TYPE}",
        )
    raw = await request.read()
    try:
        pairs = _parse_small_form(raw) if len(raw) <= MAX_CACHED_BODY_BYTES else _parse_form(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(
            400, RuleCode.INVALID_PARAMETER, f"Malformed form body: {str(error)[:120]}"
        ) from None
    return Params(pairs)


def _parse_form(raw: bytes) -> list[tuple[str, str]]:
    """The pairs of a form body; `UnicodeDecodeError` or `ValueError` when it is not one."""
    return parse_qsl(
        raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
    )


@functools.lru_cache(maxsize=256)
def _parse_small_form(raw: bytes) -> tuple[tuple[str, str], ...]:
    # A pure function of the bytes, so a cached answer is never stale; failures are not cached.
    return tuple(_parse_form(raw))
