"""Run the emulator in a child process (`python -m simops.emulator`), e.g. for benchmarks.

The load generator then gets a core of its own; the parent learns the URL from the ready line
and the credentials from `GET /_emulator/accounts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from simops.emulator.cli import READY_LINE_PREFIX
from simops.emulator.server import EmulatorAccount
from simops.runtime.child_processes import ending_with_parent

STARTUP_TIMEOUT_SECONDS = 180.0


@dataclass
class EmulatorProcess:
    """An emulator running as a child process."""

    process: asyncio.subprocess.Process
    root_url: str
    accounts: list[EmulatorAccount]

    @property
    def pid(self) -> int:
        """The child's process id (e.g. to read its memory from /proc)."""
        return self.process.pid

    @property
    def api_url(self) -> str:
        """The `/v1` base URL."""
        return f"{self.root_url}/v1"

    @property
    def token_url(self) -> str:
        """The OAuth2 token URL."""
        return f"{self.root_url}/api-services/v1/auth/token"

    @property
    def parent(self) -> EmulatorAccount:
        """The parent account's credentials."""
        return self.accounts[0]

    async def stop(self) -> None:
        """SIGINT (like Ctrl-C), then wait; kill if it does not stop in 10 s."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 10.0)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.process.stdout is not None:
            with contextlib.suppress(Exception):
                await self.process.stdout.read()


async def _fetch_accounts(root_url: str) -> list[EmulatorAccount]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{root_url}/_emulator/accounts") as response,
    ):
        response.raise_for_status()
        listed = await response.json()
    return [
        EmulatorAccount(
            account_sid=item["account_sid"],
            parent_account_sid=item["parent_account_sid"],
            auth_token=item["auth_token"],
            client_id=item["client_id"],
            client_secret=item["client_secret"],
            webhook_secret=item["webhook_secret"],
            inactive_move_beta=item["inactive_move_beta"],
            fleets=item["fleets"],
        )
        for item in listed
    ]


async def _read_root_url(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator exited with code {await process.wait()}")
        text = line.decode(errors="replace").strip()
        if text.startswith(READY_LINE_PREFIX):
            return text[len(READY_LINE_PREFIX) :].strip()


async def spawn_emulator_process(args: list[str], *, log: Path | None = None) -> EmulatorProcess:
    """Start `python -m simops.emulator *args` and wait until it serves.

    Its stderr goes to `log` when given (else to this process's); it runs in a session of its
    own, so that Ctrl-C in a terminal reaches only the parent, which decides when it stops.
    """
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("ab")) if log is not None else None
        process = await asyncio.create_subprocess_exec(
            *ending_with_parent([sys.executable, "-m", "simops.emulator", *args]),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        root_url = await asyncio.wait_for(_read_root_url(process), STARTUP_TIMEOUT_SECONDS)
        accounts = await _fetch_accounts(root_url)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    return EmulatorProcess(process=process, root_url=root_url, accounts=accounts)
