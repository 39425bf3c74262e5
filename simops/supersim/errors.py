"""Typed errors of the Super SIM API, built in one place from a failed response.

Every failure the client meets becomes one of these classes, and each says whether retrying
the same request can help (`retryable`) and, for a 429, how long to wait (`retry_after`).
Temporal activities map `retryable` onto their retry policy, so the flag is part of the contract.
Messages never carry credentials and never a full ICCID: a message may end up in a log, a
workflow history or a report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from simops.core.codes import RuleCode

MAX_RETRY_AFTER_SECONDS = 86_400.0
"""The longest `Retry-After` believed: a longer one (or `1e308`) is a broken header."""

ICCID_PATTERN = re.compile(r"(?<!\d)(\d{6})(\d{8,12})(\d{4})(?!\d)")
"""An ICCID: 18 to 22 digits (the first 6 and last 4 survive masking)."""


def mask_iccid(iccid: str) -> str:
    """An ICCID safe to show: its first 6 and last 4 digits, e.g. `890126…1234`."""
    if len(iccid) < 11:
        return "…"
    return f"{iccid[:6]}…{iccid[-4:]}"


def mask_iccids(text: str) -> str:
    """`text` with every ICCID-shaped run of digits masked."""
    return ICCID_PATTERN.sub(lambda match: f"{match.group(1)}…{match.group(3)}", text)


class SuperSimError(Exception):
    """Any failure of a Super SIM API call; `retryable` says whether trying again can help."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        more_info: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = mask_iccids(message)
        self.code = code
        self.http_status = http_status
        self.more_info = more_info
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        details = ", ".join(
            part
            for part in (
                f"HTTP {self.http_status}" if self.http_status is not None else "",
                f"code {self.code}" if self.code is not None else "",
            )
            if part
        )
        return f"{self.message} ({details})" if details else self.message


class ConfigurationError(SuperSimError):
    """simops is not configured to reach the API (no credentials, or half of a pair)."""


class TransportError(SuperSimError):
    """No usable answer: a timeout, a connection failure or a response that is not the API's."""

    retryable = True


class ServerError(SuperSimError):
    """The API failed on its side (HTTP 5xx); the same request may succeed later."""

    retryable = True


class RateLimitedError(SuperSimError):
    """429 / 20429: the account is over its limit; the request was not processed."""

    retryable = True


class AuthenticationError(SuperSimError):
    """401 / 20003 (or 403): the credentials are wrong, missing or expired."""


class NotFoundError(SuperSimError):
    """404 / 20404: no such resource on this account."""


class BadRequestError(SuperSimError):
    """Any other 4xx: the request itself is wrong and repeating it cannot help."""


class MissingParameterError(BadRequestError):
    """83001: a required parameter is missing."""


class NotRegistrableError(BadRequestError):
    """83002: the ICCID and registration code do not name a SIM that can be registered."""


class AlreadyRegisteredError(BadRequestError):
    """83003: the SIM is already registered on this account."""


class FleetNotFoundError(BadRequestError):
    """83006: the Fleet does not exist (on the SIM's destination account, for a move)."""


class FleetRequiredError(BadRequestError):
    """83007: a `ready` or `active` SIM needs a Fleet."""


class FleetRemovalNotAllowedError(BadRequestError):
    """83008: the Fleet of a `ready` or `active` SIM cannot be removed."""


class ScheduledConflictError(BadRequestError):
    """83009: the SIM has an update in progress that this request conflicts with."""


class TransitionNotAllowedError(BadRequestError):
    """83010: the status change or account move is not allowed from the SIM's status."""


class DuplicateUniqueNameError(BadRequestError):
    """83011: another resource of the account already has this unique name."""


class BadPageTokenError(BadRequestError):
    """21481: the `PageToken` of a list request is not one the API issued."""


ERRORS_BY_CODE: dict[int, type[SuperSimError]] = {
    RuleCode.AUTHENTICATION: AuthenticationError,
    RuleCode.NOT_FOUND: NotFoundError,
    RuleCode.RATE_LIMITED: RateLimitedError,
    RuleCode.MISSING_PARAMETER: MissingParameterError,
    RuleCode.NOT_REGISTRABLE: NotRegistrableError,
    RuleCode.ALREADY_REGISTERED: AlreadyRegisteredError,
    RuleCode.FLEET_NOT_FOUND: FleetNotFoundError,
    RuleCode.FLEET_REQUIRED: FleetRequiredError,
    RuleCode.FLEET_REMOVAL_NOT_ALLOWED: FleetRemovalNotAllowedError,
    RuleCode.SCHEDULED_CONFLICT: ScheduledConflictError,
    RuleCode.TRANSITION_NOT_ALLOWED: TransitionNotAllowedError,
    RuleCode.DUPLICATE_UNIQUE_NAME: DuplicateUniqueNameError,
    RuleCode.BAD_PAGE_TOKEN: BadPageTokenError,
}
"""The error class of each API error code that has one of its own."""


def _class_for_status(http_status: int) -> type[SuperSimError]:
    if http_status == 429:
        return RateLimitedError
    if http_status in (401, 403):
        return AuthenticationError
    if http_status == 404:
        return NotFoundError
    if http_status >= 500:
        return ServerError
    if http_status >= 400:
        return BadRequestError
    return TransportError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date).

    At most `MAX_RETRY_AFTER_SECONDS`; a value that is not a finite number is no value.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER_SECONDS)


def _decode_body(body: bytes | str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if body is None:
        return {}
    if isinstance(body, Mapping):
        return body
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return decoded if isinstance(decoded, Mapping) else {}


def _message_of(document: Mapping[str, Any], http_status: int) -> str:
    # The Super SIM API says `message`; the OAuth2 token endpoint says `error_description`.
    for field in ("message", "error_description", "error"):
        value = document.get(field)
        if isinstance(value, str) and value:
            return value
    return f"The Super SIM API answered HTTP {http_status} without an error message"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def error_from_response(
    http_status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
) -> SuperSimError:
    """The typed error for a failed response: by API error code first, else by HTTP status."""
    document = _decode_body(body)
    raw_code = document.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    error_class = ERRORS_BY_CODE.get(code) if code is not None else None
    # The status decides for a 429 or a 5xx whatever the code says: retrying depends on it.
    if error_class is None or http_status >= 500 or http_status == 429:
        error_class = _class_for_status(http_status)
    more_info = document.get("more_info")
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    return error_class(
        _message_of(document, http_status),
        code=code,
        http_status=http_status,
        more_info=more_info if isinstance(more_info, str) else None,
        retry_after=retry_after if error_class is RateLimitedError else None,
    )
