"""Acting as another account of the same parent: whose credentials, and what they prove.

Fleets are per account: the parent's credentials see its children's SIMs, not their Fleets.
To check that a Fleet belongs to a child, simops lists the child's Fleets as the child. As on
Twilio, HTTP Basic with the child's Account SID and the parent's Auth Token authenticates as
the child, and only for a child of that parent: so it also proves the relationship. Without
the parent's Twilio credentials, the child's own Auth Token (`SIMOPS_TWILIO_AUTH_TOKENS`) is
used, which proves only that the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from simops.runtime.settings import SimopsSettings
from simops.supersim.pacing import budget_key


@dataclass(frozen=True)
class AccountAccess:
    """Settings that act as one account, and whether they prove it is the parent's child."""

    account_sid: str
    settings: SimopsSettings
    proves_child: bool


def parent_account_sid(settings: SimopsSettings) -> str | None:
    """The Account SID the configured credentials belong to, when configuration names it."""
    return settings.twilio_account_sid


def account_access(settings: SimopsSettings, account_sid: str) -> AccountAccess | None:
    """How to act as `account_sid`; `None` when nothing configured can."""
    if account_sid == settings.twilio_account_sid:
        return AccountAccess(account_sid, settings, proves_child=False)
    token: SecretStr | None = None
    proves_child = settings.twilio_account_sid is not None and (
        settings.twilio_auth_token is not None
    )
    if proves_child:
        token = settings.twilio_auth_token
    else:
        token = settings.twilio_auth_tokens.get(account_sid)
    if token is None:
        return None
    acting = settings.model_copy(
        update={
            "twilio_account_sid": account_sid,
            "twilio_auth_token": token,
            "kore_client_id": None,
            "kore_client_secret": None,
            "bearer_token": None,
        }
    )
    return AccountAccess(account_sid, acting, proves_child=proves_child)


def account_key(settings: SimopsSettings) -> str:
    """The account whose API budget the configured credentials spend: its Account SID when
    configuration names it, else the identity of the credentials (a KORE client, a token)."""
    return settings.twilio_account_sid or budget_key(settings)
