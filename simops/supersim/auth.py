"""How requests prove who they are: KORE OAuth2 client credentials, a bearer token, Twilio Basic.

The client asks its provider for the `Authorization` header of every request and tells it when
the API answered 401 to a header it gave out, so a provider with renewable credentials (OAuth2)
can fetch new ones once and let the request try again. No provider shows a secret in its `repr`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from yarl import URL

from simops.runtime.http_client import HttpClient
from simops.runtime.settings import SimopsSettings
from simops.supersim.errors import ConfigurationError, TransportError, error_from_response
from simops.supersim.http import exchange
from simops.supersim.wire import decode_object

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0
"""Lifetime assumed for a token whose response omits `expires_in` (a 401 renews it anyway)."""

EARLY_REFRESH_SHARE = 0.2
"""A short-lived token is renewed once 80% of its lifetime has passed."""


class AuthProvider(Protocol):
    """The source of every request's `Authorization` header."""

    async def authorization(self, http: HttpClient) -> str:
        """The `Authorization` header value for the next request."""

    async def rejected(self, authorization: str) -> bool:
        """The API answered 401 to `authorization`; whether a retry with new credentials helps."""


class BearerTokenAuth:
    """A static bearer token (one obtained outside simops); a 401 is final."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=***)"

    async def authorization(self, http: HttpClient) -> str:
        """The configured token as a bearer header."""
        return self._header

    async def rejected(self, authorization: str) -> bool:
        """A static token cannot be renewed, so retrying cannot help."""
        return False


class TwilioBasicAuth:
    """HTTP Basic with an Account SID (or API key SID) and its Auth Token (or key secret)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._header = f"Basic {credentials}"

    def __repr__(self) -> str:
        return f"TwilioBasicAuth(account_sid={self.account_sid!r}, auth_token=***)"

    async def authorization(self, http: HttpClient) -> str:
        """The Basic header of the configured credentials."""
        return self._header

    async def rejected(self, authorization: str) -> bool:
        """Fixed credentials cannot be renewed, so retrying cannot help."""
        return False


@dataclass(frozen=True, slots=True)
class _AccessToken:
    header: str
    refresh_at: float
    expires_at: float


class KoreOAuth2Auth:
    """KORE's OAuth2 client-credentials flow, with one token shared by every request.

    The token is renewed before it expires (`refresh_margin` seconds early, or at 80% of its
    lifetime when that is sooner), by one request at a time however many requests are waiting:
    the others wait on the lock and reuse the new token, or keep using the old one while it is
    still valid. A 401 to the current token drops it, so the next request fetches a new one.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        refresh_margin: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: _AccessToken | None = None
        self._lock = asyncio.Lock()
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"KoreOAuth2Auth(client_id={self.client_id!r}, client_secret=***)"

    async def authorization(self, http: HttpClient) -> str:
        """The current token's bearer header, fetching a new token when it is due."""
        token = self._token
        now = self._clock()
        if token is not None and (
            now < token.refresh_at or (now < token.expires_at and self._lock.locked())
        ):
            return token.header
        async with self._lock:
            token = self._token
            if token is None or self._clock() >= token.refresh_at:
                token = await self._fetch(http)
                self._token = token
            return token.header

    async def rejected(self, authorization: str) -> bool:
        """Drop the token the API refused (unless a newer one replaced it already)."""
        if self._token is not None and self._token.header == authorization:
            self._token = None
        return True

    async def _fetch(self, http: HttpClient) -> _AccessToken:
        requested_at = self._clock()
        self.token_requests += 1
        form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id),
            ("client_secret", self._client_secret),
        ]
        response = await exchange(
            http,
            "POST",
            URL(self.token_url),
            headers={"Accept": "application/json"},
            form=form,
        )
        if response.status != 200:
            error = error_from_response(response.status, response.body, response.headers)
            raise type(error)(
                f"The KORE token endpoint refused client {self.client_id!r}: {error.message}",
                code=error.code,
                http_status=error.http_status,
                more_info=error.more_info,
                retry_after=error.retry_after,
            )
        document = decode_object(response.body)
        access_token = document.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TransportError("The KORE token endpoint answered without an access_token")
        lifetime = document.get("expires_in")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        lifetime = float(lifetime)
        early = min(self._refresh_margin, lifetime * EARLY_REFRESH_SHARE)
        logger.debug("fetched a KORE access token valid for %.0f s", lifetime)
        return _AccessToken(
            header=f"Bearer {access_token}",
            refresh_at=requested_at + lifetime - early,
            expires_at=requested_at + lifetime,
        )


MISSING_CREDENTIALS = (
    "no Super SIM API credentials are configured: set SIMOPS_KORE_CLIENT_ID and "
    "SIMOPS_KORE_CLIENT_SECRET (KORE OAuth2), or SIMOPS_BEARER_TOKEN, or "
    "SIMOPS_TWILIO_ACCOUNT_SID and SIMOPS_TWILIO_AUTH_TOKEN (Twilio), in the environment "
    "or in .simops/env"
)


def _pair_error(present: str, missing: str) -> ConfigurationError:
    return ConfigurationError(f"{present} is set but {missing} is not: set both, or neither")


def auth_from_settings(settings: SimopsSettings) -> AuthProvider:
    """The provider the settings configure: KORE OAuth2, else a bearer token, else Twilio Basic.

    A half-configured pair (a client id without its secret, say) is an error rather than a
    silent fall-through to the next kind, which would fail later with a confusing 401.
    """
    if settings.kore_client_id or settings.kore_client_secret is not None:
        if not settings.kore_client_id:
            raise _pair_error("SIMOPS_KORE_CLIENT_SECRET", "SIMOPS_KORE_CLIENT_ID")
        if settings.kore_client_secret is None:
            raise _pair_error("SIMOPS_KORE_CLIENT_ID", "SIMOPS_KORE_CLIENT_SECRET")
        return KoreOAuth2Auth(
            settings.kore_token_url,
            settings.kore_client_id,
            settings.kore_client_secret.get_secret_value(),
            refresh_margin=settings.kore_token_refresh_margin_seconds,
        )
    if settings.bearer_token is not None:
        return BearerTokenAuth(settings.bearer_token.get_secret_value())
    if settings.twilio_account_sid or settings.twilio_auth_token is not None:
        if not settings.twilio_account_sid:
            raise _pair_error("SIMOPS_TWILIO_AUTH_TOKEN", "SIMOPS_TWILIO_ACCOUNT_SID")
        if settings.twilio_auth_token is None:
            raise _pair_error("SIMOPS_TWILIO_ACCOUNT_SID", "SIMOPS_TWILIO_AUTH_TOKEN")
        return TwilioBasicAuth(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
        )
    raise ConfigurationError(MISSING_CREDENTIALS)
