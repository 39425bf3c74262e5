"""Who may use the API, and from where.

- It listens on loopback unless `SIMOPS_API_TOKENS` holds a token: the API starts, pauses and
  cancels changes to customers' SIMs, so nothing is exposed to a network without a secret.
- With tokens, every request but the OpenAPI document carries one (`Authorization: Bearer …`);
  a `read` token may only read (GET, HEAD), a `write` token may do everything.
- Without tokens, only the loopback names are accepted as `Host` (a page elsewhere cannot
  reach the API by pointing a name of its own at 127.0.0.1: DNS rebinding), and a write sent
  by a browser from another origin is refused (a form can POST `multipart/form-data` across
  origins without asking).
"""

from __future__ import annotations

import hmac
import logging
from http import HTTPStatus
from urllib.parse import urlsplit

from aiohttp import web

from simops.api.problems import Handler, Problem
from simops.runtime.hosts import is_loopback
from simops.runtime.tokens import ApiToken, TokenScope

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD", "OPTIONS")
CALLER = web.RequestKey("caller", str)
"""The name of the token a request came with (`local` without tokens), for logs."""


class ApiConfigError(Exception):
    """The API cannot start as configured; the message says what to change."""


def check_api_bind(host: str, tokens: list[ApiToken]) -> None:
    """Refuse (`ApiConfigError`) to listen past loopback without a token."""
    if not tokens and not is_loopback(host):
        raise ApiConfigError(
            f"refusing to serve the API on {host} without SIMOPS_API_TOKENS: set it "
            "(name:scope:token, tokens of 16+ characters) or bind 127.0.0.1"
        )


class ApiGuard:
    """The API's access rules for one process: its tokens, and the paths anyone may read."""

    def __init__(self, tokens: list[ApiToken], public_paths: frozenset[str]) -> None:
        self.tokens = tokens
        self.public_paths = public_paths

    def _token_of(self, request: web.Request) -> ApiToken | None:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        offered_bytes = offered.strip().encode()
        found = None
        # Every token compared, in constant time each: which one matched takes no longer.
        for token in self.tokens:
            if hmac.compare_digest(offered_bytes, token.token.get_secret_value().encode()):
                found = token
        return found

    def _check_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise Problem(
                HTTPStatus.FORBIDDEN,
                "cross-origin-write",
                "refused: a write sent by a page of another origin",
            )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply this module's rules to a request."""
        if not self.tokens:
            if not is_loopback(request.url.host or ""):
                raise Problem(
                    HTTPStatus.MISDIRECTED_REQUEST,
                    "loopback-only",
                    "without SIMOPS_API_TOKENS the API answers to 127.0.0.1 only",
                )
            if request.method not in READ_METHODS:
                self._check_origin(request)
            request[CALLER] = "local"
            return await handler(request)
        if request.path in self.public_paths:
            request[CALLER] = "anyone"
            return await handler(request)
        token = self._token_of(request)
        if token is None:
            raise Problem(
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                "send a token of SIMOPS_API_TOKENS as `Authorization: Bearer TOKEN`",
                headers={"WWW-Authenticate": 'Bearer realm="simops"'},
            )
        if request.method not in READ_METHODS and token.scope is not TokenScope.WRITE:
            raise Problem(
                HTTPStatus.FORBIDDEN,
                "read-only-token",
                f"token {token.name} is read-only: it may only GET",
            )
        request[CALLER] = token.name
        return await handler(request)
