"""Who is calling: HTTP Basic (Account SID + Auth Token) or a KORE OAuth2 bearer token.

`POST /api-services/v1/auth/token` (client credentials) issues bearer tokens that expire after
`token_ttl` seconds of real time. As on Twilio, the parent's Auth Token also authenticates as a
child when the Basic user name is the child's Account SID.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from typing import Any

from simops.core.codes import RuleCode
from simops.emulator.errors import ApiError
from simops.emulator.forms import Params
from simops.emulator.ids import IdFactory
from simops.emulator.state import AccountRecord, Store

MAX_CACHED_HEADERS = 10_000


def unauthorized(message: str) -> ApiError:
    """401 / 20003."""
    return ApiError(401, RuleCode.AUTHENTICATION, message)


class Authenticator:
    """Checks credentials and issues bearer tokens."""

    def __init__(self, store: Store, ids: IdFactory, token_ttl: float) -> None:
        self._store = store
        self._ids = ids
        self.token_ttl = token_ttl
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic_cache: dict[str, AccountRecord] = {}

    def authenticate(self, header: str | None) -> AccountRecord:
        """The account an `Authorization` header authenticates, else 401 / 20003."""
        if not header:
            raise unauthorized("Authentication required: send HTTP Basic or a Bearer token")
        cached = self._basic_cache.get(header)
        if cached is not None:
            return cached
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return self._bearer(credentials.strip())
        if scheme == "basic":
            account = self._basic(credentials.strip())
            if len(self._basic_cache) < MAX_CACHED_HEADERS:
                self._basic_cache[header] = account
            return account
        raise unauthorized("Unsupported authorization scheme")

    def _basic(self, credentials: str) -> AccountRecord:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized("Malformed Basic credentials") from None
        user, _, password = decoded.partition(":")
        account = self._store.accounts.get(user)
        if account is None:
            raise unauthorized("Authentication failed: unknown Account SID or wrong Auth Token")
        if hmac.compare_digest(account.auth_token.encode(), password.encode()):
            return account
        parent = self._store.accounts.get(account.parent_sid or "")
        if parent is not None and hmac.compare_digest(
            parent.auth_token.encode(), password.encode()
        ):
            return account
        raise unauthorized("Authentication failed: unknown Account SID or wrong Auth Token")

    def _bearer(self, token: str) -> AccountRecord:
        entry = self._tokens.get(token)
        if entry is None:
            raise unauthorized("Authentication failed: unknown bearer token")
        account_sid, expires_at = entry
        if time.monotonic() >= expires_at:
            del self._tokens[token]
            raise unauthorized("Authentication failed: the bearer token has expired")
        return self._store.accounts[account_sid]

    def issue(self, params: Params) -> dict[str, Any]:
        """A token response for a client-credentials grant, else 400 / 401."""
        grant_type = params.text("grant_type")
        if grant_type != "client_credentials":
            raise ApiError(
                400,
                RuleCode.INVALID_PARAMETER,
                "grant_type must be client_credentials",
            )
        client_id = params.text("client_id") or ""
        client_secret = params.text("client_secret") or ""
        account = next(
            (item for item in self._store.accounts.values() if item.client_id == client_id),
            None,
        )
        if account is None or not hmac.compare_digest(
            account.client_secret.encode(), client_secret.encode()
        ):
            raise unauthorized("Invalid client or Invalid client credentials")
        self._forget_expired()
        token = f"emu.{self._ids.secret()}{self._ids.secret()}"
        self._tokens[token] = (account.sid, time.monotonic() + self.token_ttl)
        return {
            "access_token": token,
            "expires_in": int(self.token_ttl) if self.token_ttl.is_integer() else self.token_ttl,
            "token_type": "Bearer",
            "scope": "supersim",
        }

    def _forget_expired(self) -> None:
        now = time.monotonic()
        expired = [token for token, (_, expires_at) in self._tokens.items() if expires_at <= now]
        for token in expired:
            del self._tokens[token]
