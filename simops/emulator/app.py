"""The aiohttp application: one middleware (auth, limits and faults; errors, stats and the
request log) and routes.

Every answer, including aiohttp's own 404/405/413, leaves with a Twilio-style error body; an
unexpected exception is logged and answered 500 / 20500 without touching state further.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from simops.core.codes import RuleCode
from simops.emulator import api_records, api_resources, api_sims, control
from simops.emulator.context import ACCOUNT_KEY, CONTEXT, EmulatorContext, context_of
from simops.emulator.control import CONTROL_PREFIX
from simops.emulator.errors import ApiError, EmulatorCode, error_body
from simops.emulator.forms import form_params
from simops.emulator.responses import json_response

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
API_PREFIX = "/v1/"
TOKEN_PATH = "/api-services/v1/auth/token"
UNMATCHED_ROUTE = "<unmatched>"
SIM_ROUTE_PREFIX = "/v1/Sims/{sid}"
"""The route templates whose path names a Sim (`{sid}`, the Sim itself and its sub-lists)."""


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def _http_exception_body(error: web.HTTPException) -> tuple[int, int, str]:
    status = error.status
    if status == 404:
        return status, RuleCode.NOT_FOUND, "The requested resource was not found"
    if status == 405:
        return status, EmulatorCode.METHOD_NOT_ALLOWED, "Method not allowed on this resource"
    if status == 413:
        return (
            status,
            EmulatorCode.PAYLOAD_TOO_LARGE,
            (f"Request body too large: at most {MAX_BODY_BYTES} bytes"),
        )
    return status, RuleCode.INVALID_PARAMETER, error.reason or "Bad request"


def _error_response(http_status: int, code: int, message: str) -> web.Response:
    return json_response(error_body(http_status, code, message), http_status)


@web.middleware
async def answer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gate `/v1` requests, turn every failure into an error body, count every answer and log
    every answer but the control API's.

    One middleware rather than one per concern: each layer costs a wrapper and a coroutine on
    every request, a measurable share of the emulator's CPU in a 10,000-Sim campaign.
    """
    context: EmulatorContext = request.app[CONTEXT]
    path = request.path
    account_sid: str | None = None
    try:
        if path.startswith(API_PREFIX):
            # Authenticated here rather than in the gate so that the request log names the
            # account even of a request the limits or a fault refuse.
            account = context.auth.authenticate(request.headers.get("Authorization"))
            request[ACCOUNT_KEY] = account
            account_sid = account.sid
            response = await _api_gate(context, account_sid, request, handler)
        else:
            response = await handler(request)
    except ApiError as error:
        response = _error_response(error.http_status, error.code, error.message)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = _error_response(*_http_exception_body(error))
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("emulator bug while answering %s %s", request.method, request.path)
        response = _error_response(500, RuleCode.INTERNAL, "Internal error of the emulator")
    method = request.method
    route = _route_template(request)
    status = response.status
    stats = context.stats
    stats.record_request(method, route, status)
    if not path.startswith(CONTROL_PREFIX):
        sim_sid = request.match_info.get("sid") if route.startswith(SIM_ROUTE_PREFIX) else None
        stats.log_request(account_sid, method, route, sim_sid, status)
    return response


async def _api_gate(
    context: EmulatorContext, account_sid: str, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Apply the account limits and the injected faults to an authenticated `/v1` request."""
    limits = context.limits if context.limits.enabled else None
    if limits is not None:
        limits.acquire(account_sid)
    try:
        faults = context.faults
        settings = faults.settings
        if faults.roll(settings.rate_limit_rate):
            raise ApiError(
                429, RuleCode.RATE_LIMITED, "Too many requests (injected)", retry_after=1
            )
        if faults.roll(settings.error_rate):
            raise ApiError(500, RuleCode.INTERNAL, "Internal server error (injected)")
        response = await handler(request)
        if (
            request.method != "GET"
            and response.status < 400
            and faults.roll(settings.error_after_write_rate)
        ):
            raise ApiError(
                500, RuleCode.INTERNAL, "Internal server error after the write (injected)"
            )
        if settings.latency_ms > 0:
            # A slow answer, not a slow API: the request is already applied (and its callback
            # may already be on its way) when the client finally hears back, as on a congested
            # link.
            await asyncio.sleep(settings.latency_ms / 1000.0)
        return response
    finally:
        if limits is not None:
            limits.release(account_sid)


async def issue_token(request: web.Request) -> web.Response:
    """`POST /api-services/v1/auth/token`: a bearer token for client credentials."""
    context = context_of(request)
    try:
        token = context.auth.issue(await form_params(request))
    except ApiError as error:
        if error.http_status != 401:
            raise
        body = {
            **error.body(),
            "error": "invalid_client",
            "error_description": error.message,
        }
        return json_response(body, 401)
    return json_response(token)


def build_app(context: EmulatorContext) -> web.Application:
    """The emulator's aiohttp application."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[answer_middleware],
    )
    app[CONTEXT] = context
    app.router.add_post(TOKEN_PATH, issue_token)
    api_sims.add_routes(app)
    api_resources.add_routes(app)
    api_records.add_routes(app)
    control.add_routes(app)
    return app
