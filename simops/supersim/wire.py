"""The Super SIM wire format in one place: parameter names and values, and list envelopes.

Requests carry UpperCamelCase form or query parameters (`UniqueName=`, `PageSize=`); responses
are snake_case JSON, and a list answers with `{"<key>": [...], "meta": {...}}`. The client
speaks in snake_case keyword arguments and this module translates, so no other module spells
a wire name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from simops.supersim.errors import TransportError

ParameterValue = str | int | float | bool | datetime | Enum | Sequence[str] | None
"""What a client method may pass as a parameter; `None` means "not sent"."""

FormParameters = list[tuple[str, str]]
"""Encoded parameters, in order; a repeated name (`Networks=`) appears once per value."""


def parameter_name(field: str) -> str:
    """The wire name of a snake_case field: `network_access_profile` -> `NetworkAccessProfile`."""
    return "".join(part[:1].upper() + part[1:] for part in field.split("_"))


def encode_value(value: str | int | float | bool | datetime | Enum) -> str:
    """One parameter value as the API reads it (booleans `true`/`false`, UTC times with `Z`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def encode_parameters(**fields: ParameterValue) -> FormParameters:
    """Form or query parameters for the given snake_case fields, leaving out `None` ones."""
    encoded: FormParameters = []
    for field, value in fields.items():
        if value is None:
            continue
        name = parameter_name(field)
        if isinstance(value, Sequence) and not isinstance(value, str):
            encoded.extend((name, item) for item in value)
        else:
            encoded.append((name, encode_value(value)))
    return encoded


@dataclass(frozen=True, slots=True)
class ListEnvelope:
    """One page of a list response: its items (still JSON) and the URL of the next page."""

    items: list[dict[str, Any]]
    next_page_url: str | None


def decode_json(raw_body: bytes) -> Any:
    """The JSON document of a response body; anything else is a transport error."""
    try:
        return json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as error:
        raise TransportError(
            f"The Super SIM API answered with a body that is not JSON: {error}"
        ) from error


def decode_object(raw_body: bytes) -> dict[str, Any]:
    """The JSON object of a response body (a resource); anything else is a transport error."""
    document = decode_json(raw_body)
    if not isinstance(document, dict):
        raise TransportError("The Super SIM API answered with JSON that is not an object")
    return document


_NEXT_PAGE_URL = re.compile(rb'"next_page_url"\s*:\s*("(?:[^"\\]|\\.)*")')
"""`"next_page_url": "<JSON string>"`: in a body, the quote before `next_page_url` is the
start of a key, since a quote inside a JSON string is escaped."""
PEEK_BYTES = 4096
"""How much of a list page's end is searched for `meta.next_page_url` (meta comes last)."""


def peek_next_page_url(raw_body: bytes) -> str | None:
    """The next page's URL as the end of a list page gives it, read without parsing the page
    (`None`: none found there). A hint, to ask for the next page early: the parsed page decides.
    """
    found = _NEXT_PAGE_URL.findall(raw_body, max(0, len(raw_body) - PEEK_BYTES))
    if not found:
        return None
    try:
        next_page_url = json.loads(found[-1])
    except ValueError:
        return None
    return next_page_url if isinstance(next_page_url, str) and next_page_url else None


def decode_list(raw_body: bytes, key: str) -> ListEnvelope:
    """A list page: the array `meta.key` names (`key` when meta omits it) and `next_page_url`."""
    document = decode_object(raw_body)
    meta = document.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    named_key = meta.get("key")
    items_key = named_key if isinstance(named_key, str) else key
    items = document.get(items_key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise TransportError(f"The Super SIM API list answer has no `{items_key}` array")
    next_page_url = meta.get("next_page_url")
    return ListEnvelope(
        items=items,
        next_page_url=next_page_url if isinstance(next_page_url, str) and next_page_url else None,
    )
