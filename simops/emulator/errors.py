"""The Twilio-style error every failed emulator request answers with.

Handlers raise `ApiError`; the error middleware turns it into `{code, message, more_info,
status}` so that no path can answer a failure without that body.
"""

from __future__ import annotations

from enum import IntEnum

from simops.core.codes import RuleCode

MORE_INFO_BASE = "https://www.twilio.com/docs/errors/"


class EmulatorCode(IntEnum):
    """Error codes the emulator uses beyond the Super SIM rules' own (`RuleCode`)."""

    METHOD_NOT_ALLOWED = 20004
    UNSUPPORTED_MEDIA_TYPE = 20415
    PAYLOAD_TOO_LARGE = 20413


class ApiError(Exception):
    """A request the emulator refuses, with the HTTP status and code the API would answer."""

    def __init__(
        self,
        http_status: int,
        code: int,
        message: str,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        return error_body(self.http_status, self.code, self.message)


def error_body(http_status: int, code: int, message: str) -> dict[str, object]:
    """A Twilio-style error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"{MORE_INFO_BASE}{code}",
        "status": http_status,
    }


def invalid_parameter(name: str, problem: str) -> ApiError:
    """400 / 20001 naming the offending parameter."""
    return ApiError(400, RuleCode.INVALID_PARAMETER, f"Invalid parameter {name}: {problem}")


def not_found(kind: str, ref: str) -> ApiError:
    """404 / 20404 for a resource the requesting account cannot see."""
    return ApiError(
        404, RuleCode.NOT_FOUND, f"The requested resource {kind} {ref[:64]} was not found"
    )
