"""What keeps the dashboard safe: where it may listen, who may see it, and which POSTs count.

- It listens on loopback unless `SIMOPS_UI_TOKEN` is set: campaigns name customers' SIMs and the
  buttons pause and cancel them, so nothing is exposed to a network without a secret.
- With a token, every page asks for it: a bearer token (`Authorization: Bearer …`, for scripts)
  or a login cookie that the login form sets (for browsers).
- Without one, only the loopback names are accepted as `Host`: a page elsewhere cannot reach the
  dashboard by pointing a name of its own at 127.0.0.1 (DNS rebinding).
- Every POST carries a CSRF token tied to the visitor's session cookie (and an `Origin`, when
  the browser sends one, must be the dashboard's own), so another site cannot press a button.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from simops.runtime.hosts import is_loopback
from simops.runtime.settings import SimopsSettings
from simops.runtime.tokens import MIN_TOKEN_LENGTH

SESSION_COOKIE = "simops_ui_session"
SESSION = web.RequestKey("session", str)
"""The visitor's session ID (from its cookie, or new), for the CSRF token."""
LOGIN_COOKIE = "simops_ui_login"
CSRF_FIELD = "csrf_token"
PUBLIC_PATHS = ("/login", "/static/")
"""What a visitor without the token may fetch: the login form and the files it uses."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Only the dashboard's own files run or style a page: an escaping slip cannot run a script."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UiConfigError(Exception):
    """The dashboard cannot start as configured; the message says what to change."""


def ui_token(settings: SimopsSettings) -> str | None:
    """The configured SIMOPS_UI_TOKEN, if any."""
    return settings.ui_token.get_secret_value() if settings.ui_token is not None else None


def check_bind(host: str, token: str | None) -> None:
    """Refuse (`UiConfigError`) to listen past loopback without a token, or with a short one."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise UiConfigError(
            f"SIMOPS_UI_TOKEN is {len(token)} characters: use at least {MIN_TOKEN_LENGTH}"
        )
    if token is None and not is_loopback(host):
        raise UiConfigError(
            f"refusing to serve the dashboard on {host} without SIMOPS_UI_TOKEN: set it "
            "(16+ characters) or bind 127.0.0.1"
        )


class Guard:
    """The dashboard's access rules for one process: its token, if any, and its CSRF key."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        # A key per process: a page served before a restart needs a reload to POST again.
        self._csrf_key = secrets.token_bytes(32)

    def csrf_token(self, request: web.Request) -> str:
        """The CSRF token of this visitor's session, for the hidden field of a form."""
        return self._sign(self._csrf_key, request[SESSION])

    def login_cookie(self) -> str:
        """The value of the login cookie: derived from the token, never the token itself."""
        assert self.token is not None
        return self._sign(self.token.encode(), "simops-ui-login")

    def accepts_token(self, offered: str) -> bool:
        """Whether `offered` is the configured token (compared in constant time)."""
        return self.token is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    @staticmethod
    def _sign(key: bytes, message: str) -> str:
        return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()

    def _signed_in(self, request: web.Request) -> bool:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.accepts_token(offered.strip()):
            return True
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.login_cookie().encode())

    async def _check_csrf(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="refused: this form was sent from another site")
        form = await request.post()
        offered = form.get(CSRF_FIELD)
        if not isinstance(offered, str) or not hmac.compare_digest(
            offered.encode(), self.csrf_token(request).encode()
        ):
            raise web.HTTPForbidden(
                text="refused: the form's CSRF token is missing or stale; reload the page"
            )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply every rule of this module to a request, and the security headers to its
        response."""
        if self.token is None and not is_loopback(request.url.host or ""):
            raise web.HTTPMisdirectedRequest(text="the dashboard answers to 127.0.0.1 only")
        session = request.cookies.get(SESSION_COOKIE)
        new_session = session is None
        request[SESSION] = session or secrets.token_urlsafe(32)
        public = request.path.startswith(PUBLIC_PATHS)
        if self.token is not None and not public and not self._signed_in(request):
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
            raise web.HTTPUnauthorized(
                text="sign in: SIMOPS_UI_TOKEN as a bearer token or through /login",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.method not in ("GET", "HEAD"):
            await self._check_csrf(request)
        response = await handler(request)
        if new_session:
            response.set_cookie(
                SESSION_COOKIE,
                request[SESSION],
                httponly=True,
                samesite="Strict",
                secure=request.secure,
            )
        response.headers.update(
            {
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
                # Not `no-referrer`: with it, Chromium sends `Origin: null` with the page's own
                # forms, which the Origin check refuses.
                "Referrer-Policy": "same-origin",
                "Cache-Control": "no-store",
            }
        )
        return response
