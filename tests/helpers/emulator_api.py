"""A small HTTP helper for emulator tests: real requests, answers as (status, JSON, headers)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from simops.emulator.server import EmulatorAccount, RunningEmulator


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    body: Any
    headers: CIMultiDictProxy[str]


class EmulatorApi:
    """Calls one emulator's `/v1` API with one account's HTTP Basic credentials."""

    def __init__(
        self, session: aiohttp.ClientSession, emulator: RunningEmulator, account: EmulatorAccount
    ) -> None:
        self.session = session
        self.emulator = emulator
        self.account = account
        self.authorization = aiohttp.encode_basic_auth(account.account_sid, account.auth_token)

    async def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | bytes | None = None,
        params: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        """Send a request to `api_url + path` (or to an absolute URL); `form` may be raw bytes."""
        url = path if path.startswith("http") else f"{self.emulator.api_url}{path}"
        headers = {"Authorization": self.authorization, **kwargs.pop("headers", {})}
        async with self.session.request(
            method, url, data=form, params=params, headers=headers, **kwargs
        ) as response:
            text = await response.text()
            body = await response.json(content_type=None) if text else None
            return Answer(response.status, body, response.headers)

    async def get(self, path: str, **params: str) -> Answer:
        """GET with query parameters."""
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, **form: str) -> Answer:
        """POST a form body."""
        return await self.request("POST", path, form=form)

    async def control(self, method: str, path: str, body: Any = None) -> Answer:
        """Call the control API (`/_emulator/...`) with a JSON body."""
        url = f"{self.emulator.root_url}/_emulator{path}"
        async with self.session.request(method, url, json=body) as response:
            return Answer(response.status, await response.json(), response.headers)

    async def first_sim(self) -> dict[str, Any]:
        """The first Sim this account lists."""
        answer = await self.get("/Sims", PageSize="1")
        sim: dict[str, Any] = answer.body["sims"][0]
        return sim

    async def wait_for_status(self, sid: str, status: str, within: float = 5.0) -> dict[str, Any]:
        """Poll a Sim until it reaches `status`."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.get(f"/Sims/{sid}")
            if answer.body["status"] == status:
                sim: dict[str, Any] = answer.body
                return sim
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"Sim {sid} is {answer.body['status']}, not {status}")
            await asyncio.sleep(0.02)
