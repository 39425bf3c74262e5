"""What the client tests share: settings for an emulator account, a token for it, and the
emulator's control API."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import aiohttp
from pydantic import SecretStr

from simops.emulator.process import EmulatorProcess
from simops.emulator.server import EmulatorAccount, RunningEmulator
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.pacing import RateBudget

TOKEN_ROUTE = "POST /api-services/v1/auth/token"
FAST_BACKOFF: dict[str, Any] = {"api_backoff_base_seconds": 0.01, "api_backoff_max_seconds": 0.05}


def client_settings(
    emulator: RunningEmulator | EmulatorProcess,
    *,
    account: EmulatorAccount | None = None,
    auth: Literal["kore", "twilio"] = "kore",
    **overrides: Any,
) -> SimopsSettings:
    """Settings for one emulator account, ignoring any `.simops/env` of the working directory."""
    account = account or emulator.parent
    credentials: dict[str, Any]
    if auth == "kore":
        credentials = {
            "kore_client_id": account.client_id,
            "kore_client_secret": SecretStr(account.client_secret),
            "kore_token_url": emulator.token_url,
        }
    else:
        credentials = {
            "twilio_account_sid": account.account_sid,
            "twilio_auth_token": SecretStr(account.auth_token),
        }
    values = {"api_url": emulator.api_url, **FAST_BACKOFF, **credentials, **overrides}
    return SimopsSettings(_env_file=None, **values)


def make_client(emulator: RunningEmulator | EmulatorProcess, **options: Any) -> SuperSimClient:
    """A client of one emulator account with a budget of its own (no sharing across tests)."""
    settings = client_settings(emulator, **options)
    return SuperSimClient(settings, budget=RateBudget.from_settings(settings))


async def bearer_token(token_url: str, account: EmulatorAccount) -> str:
    """An access token from the emulator's OAuth2 endpoint at `token_url`, for the account's
    client credentials."""
    form = {
        "grant_type": "client_credentials",
        "client_id": account.client_id,
        "client_secret": account.client_secret,
    }
    async with aiohttp.ClientSession() as session, session.post(token_url, data=form) as response:
        token: str = (await response.json())["access_token"]
        return token


class EmulatorControl:
    """The emulator's control API: faults, stats, inventory; of an emulator in this process or
    in a child process."""

    def __init__(self, emulator: RunningEmulator | EmulatorProcess) -> None:
        self._root = f"{emulator.root_url}/_emulator"

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self._root}{path}", json=body) as response,
        ):
            assert response.status < 300, await response.text()
            return await response.json()

    async def faults(self, **rates: float) -> None:
        """Turn faults on (rates in [0, 1], delays in ms)."""
        await self._call("POST", "/faults", rates)

    async def clear_faults(self) -> None:
        """Turn every fault off."""
        await self._call("DELETE", "/faults")

    async def stats(self) -> dict[str, Any]:
        """The stats page."""
        stats: dict[str, Any] = await self._call("GET", "/stats")
        return stats

    async def writes(self) -> list[dict[str, Any]]:
        """The write log: every state-changing write, oldest first, with its Unix time."""
        log: dict[str, Any] = await self._call("GET", "/writes")
        return list(log["writes"])

    async def requests(self, since: float | None = None) -> list[dict[str, Any]]:
        """The request log: every answered API request, oldest first, with its Unix time,
        account, route, Sim and status; only those at or after `since` when given."""
        query = "" if since is None else f"?since={since!r}"
        log: dict[str, Any] = await self._call("GET", f"/requests{query}")
        return list(log["requests"])

    async def answers(self, route: str) -> Counter[int]:
        """How often `route` ("METHOD /template") was answered with each status."""
        by_status = (await self.stats())["requests"].get(route, {})
        return Counter({int(status): count for status, count in by_status.items()})

    async def add_sims(self, count: int, account: str | None = None) -> list[dict[str, str]]:
        """`count` new Sims arriving on `account` (the parent by default): their SIDs,
        ICCIDs, accounts and statuses."""
        body: dict[str, Any] = {"count": count}
        if account is not None:
            body["account"] = account
        added: dict[str, Any] = await self._call("POST", "/sims", body)
        return list(added["sims"])

    async def inventory(self) -> list[dict[str, str]]:
        """Unregistered ICCIDs with their registration codes."""
        listed: dict[str, Any] = await self._call("GET", "/inventory")
        return list(listed["inventory"])
