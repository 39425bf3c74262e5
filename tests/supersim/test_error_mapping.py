"""`error_from_response`: every class from its code or status, retryability, masking."""

from __future__ import annotations

import pickle

import pytest

from simops.core.codes import RuleCode
from simops.supersim import errors
from simops.supersim.errors import (
    SuperSimError,
    error_from_response,
    mask_iccid,
    mask_iccids,
    parse_retry_after,
)


def body(code: int, message: str = "refused", status: int = 400) -> dict[str, object]:
    return {"code": code, "message": message, "more_info": "https://example.test", "status": status}


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (RuleCode.MISSING_PARAMETER, errors.MissingParameterError),
        (RuleCode.NOT_REGISTRABLE, errors.NotRegistrableError),
        (RuleCode.ALREADY_REGISTERED, errors.AlreadyRegisteredError),
        (RuleCode.FLEET_NOT_FOUND, errors.FleetNotFoundError),
        (RuleCode.FLEET_REQUIRED, errors.FleetRequiredError),
        (RuleCode.FLEET_REMOVAL_NOT_ALLOWED, errors.FleetRemovalNotAllowedError),
        (RuleCode.SCHEDULED_CONFLICT, errors.ScheduledConflictError),
        (RuleCode.TRANSITION_NOT_ALLOWED, errors.TransitionNotAllowedError),
        (RuleCode.DUPLICATE_UNIQUE_NAME, errors.DuplicateUniqueNameError),
        (RuleCode.BAD_PAGE_TOKEN, errors.BadPageTokenError),
        (RuleCode.INVALID_PARAMETER, errors.BadRequestError),
    ],
)
def test_rule_codes_map_to_their_class(code: int, error_class: type[SuperSimError]) -> None:
    error = error_from_response(400, body(code), {})
    assert type(error) is error_class
    assert isinstance(error, errors.BadRequestError)
    assert not error.retryable
    assert (error.code, error.http_status, error.more_info) == (code, 400, "https://example.test")


@pytest.mark.parametrize(
    ("status", "payload", "error_class", "retryable"),
    [
        (404, body(20404, status=404), errors.NotFoundError, False),
        (401, body(20003, status=401), errors.AuthenticationError, False),
        (403, b"", errors.AuthenticationError, False),
        (429, body(20429, status=429), errors.RateLimitedError, True),
        (500, body(20500, status=500), errors.ServerError, True),
        (503, b"<html>Service Unavailable</html>", errors.ServerError, True),
        (409, body(83009, status=409), errors.ScheduledConflictError, False),
        (422, b"not json", errors.BadRequestError, False),
    ],
)
def test_status_decides_when_the_code_does_not(
    status: int, payload: object, error_class: type[SuperSimError], retryable: bool
) -> None:
    error = error_from_response(status, payload, {})  # type: ignore[arg-type]
    assert type(error) is error_class
    assert error.retryable is retryable
    assert error.http_status == status


def test_a_5xx_stays_retryable_whatever_code_it_carries() -> None:
    error = error_from_response(502, body(83010, status=502), {})
    assert isinstance(error, errors.ServerError)
    assert error.retryable


def test_rate_limited_carries_retry_after_in_seconds_or_as_a_date() -> None:
    seconds = error_from_response(429, body(20429), {"retry-after": "3"})
    assert isinstance(seconds, errors.RateLimitedError)
    assert seconds.retry_after == 3.0
    dated = error_from_response(429, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert dated.retry_after == 0.0
    assert error_from_response(429, b"", {}).retry_after is None
    assert parse_retry_after("soon") is None


def test_the_token_endpoint_error_format_is_read() -> None:
    error = error_from_response(
        401, {"error": "invalid_client", "error_description": "Invalid client credentials"}, {}
    )
    assert isinstance(error, errors.AuthenticationError)
    assert error.message == "Invalid client credentials"


def test_iccids_are_masked_in_every_message() -> None:
    iccid = "8988307000012345678"
    error = error_from_response(400, body(83002, f"SIM {iccid} cannot be registered"), {})
    assert iccid not in str(error)
    assert "898830…5678" in str(error)
    assert mask_iccid("89883070000123456789") == "898830…6789"
    assert mask_iccids("sid HS0123 and 12345") == "sid HS0123 and 12345"
    transport = errors.TransportError(f"GET /v1/Sims?Iccid={iccid} failed")
    assert iccid not in transport.message


def test_errors_survive_pickling_with_their_fields() -> None:
    error = error_from_response(429, body(20429, "slow down", 429), {"Retry-After": "2"})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is errors.RateLimitedError
    assert (copy.code, copy.http_status, copy.retry_after, copy.message) == (
        20429,
        429,
        2.0,
        "slow down",
    )
    assert str(copy) == "slow down (HTTP 429, code 20429)"
