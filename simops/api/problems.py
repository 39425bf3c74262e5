"""RFC 9457 problem details: the one shape of every error the API answers.

Handlers raise `Problem`; the middleware turns it, aiohttp's own HTTP errors (an unknown path,
a method a route does not take, a body too large) and anything unexpected into
`application/problem+json`. Nothing reaches a caller as a traceback or an HTML page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.service import RPCError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://simops.dev/problems/"
"""Where each problem `type` is named (a stable identifier; docs/api.md lists them)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 describes it; some problems add members (`errors`,
    `differences`)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class Problem(Exception):
    """An error a handler answers with: its status, a `type` slug (`campaign-not-found`…), a
    detail for people, and members for programs."""

    def __init__(
        self,
        status: HTTPStatus,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **members: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.members = members

    def response(self, request: web.Request) -> web.Response:
        """The problem as a response to `request`."""
        details = ProblemDetails(
            type=PROBLEM_TYPE_BASE + self.slug,
            title=self.status.phrase,
            status=int(self.status),
            detail=self.detail,
            instance=request.path,
            **self.members,
        )
        return web.Response(
            status=int(self.status),
            text=details.model_dump_json(exclude_none=True),
            content_type=PROBLEM_MEDIA_TYPE,
            headers=self.headers,
        )


def invalid(error: ValidationError, where: str) -> Problem:
    """A 422 naming each field of `where` (the body, a part, the query) that is wrong, and why;
    never echoing a value (a spec may hold an ICCID)."""
    errors = [
        {"loc": [where, *(str(part) for part in issue["loc"])], "msg": issue["msg"]}
        for issue in error.errors(include_input=False, include_url=False)
    ]
    problems = "; ".join(f"{'.'.join(item['loc'])}: {item['msg']}" for item in errors)
    return Problem(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-request", problems, errors=errors)


def bad_json(error: json.JSONDecodeError | UnicodeDecodeError, where: str) -> Problem:
    """A 400 for a body (or part) that is not JSON."""
    return Problem(HTTPStatus.BAD_REQUEST, "malformed-json", f"{where} is not JSON: {error}")


_HTTP_SLUGS = {
    HTTPStatus.NOT_FOUND: "not-found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method-not-allowed",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "too-large",
}


def _from_http_error(error: web.HTTPException) -> Problem:
    """aiohttp's own refusals (routing, body size) as problems."""
    status = HTTPStatus(error.status)
    headers = {name: error.headers[name] for name in ("Allow",) if name in error.headers}
    detail = {
        HTTPStatus.NOT_FOUND: "no such resource in this API (see /api/v1/openapi.json)",
        HTTPStatus.METHOD_NOT_ALLOWED: f"this resource takes {headers.get('Allow', 'other')}",
    }.get(status, error.reason)
    slug = _HTTP_SLUGS.get(status, status.phrase.lower().replace(" ", "-"))
    return Problem(status, slug, detail, headers=headers)


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error of the API as problem details."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _from_http_error(error).response(request)
    except RPCError as error:
        # Temporal is down or refused: not the caller's mistake, and worth trying again.
        log.warning("Temporal failed on %s %s: %s", request.method, request.path, error)
        unavailable = Problem(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "temporal-unavailable",
            "Temporal did not answer: try again",
        )
        return unavailable.response(request)
    except Exception:
        # Logged here with its traceback; the caller learns only that it was not its mistake.
        log.exception("the API failed on %s %s", request.method, request.path)
        failed = Problem(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal-error",
            "the server failed on this request; its log says why",
        )
        return failed.response(request)
