"""`simops emulator` / `python -m simops.emulator`: banner, real port, clean Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
from typer.testing import CliRunner

from simops.cli import app
from simops.emulator.cli import READY_LINE_PREFIX
from simops.emulator.process import spawn_emulator_process
from simops.emulator.server import parse_delay


def test_emulator_command_is_registered_with_its_flags() -> None:
    result = CliRunner().invoke(app, ["emulator", "--help"])

    assert result.exit_code == 0
    for flag in ("--seed-sims", "--scheduled-delay", "--token-ttl", "--state", "--rate"):
        assert flag in result.output


def test_callback_senders_must_be_at_least_one() -> None:
    result = CliRunner().invoke(app, ["emulator", "--callback-senders", "0"])

    assert result.exit_code == 2
    assert "callback-senders" in result.output


def test_parse_delay_accepts_a_number_or_a_range() -> None:
    assert parse_delay("2") == (2.0, 2.0)
    assert parse_delay("0.5-3") == (0.5, 3.0)
    for bad in ("fast", "3-1", "-1"):
        try:
            parse_delay(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


async def test_banner_shows_the_real_port_and_ctrl_c_stops_cleanly() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simops.emulator",
        "--port",
        "0",
        "--child-accounts",
        "2",
        "--seed-sims",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first_line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    root_url = first_line.removeprefix(READY_LINE_PREFIX).strip()
    banner: list[str] = []
    while len(banner) < 10:
        banner.append((await process.stdout.readline()).decode())
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{root_url}/_emulator/accounts") as response,
    ):
        accounts = await response.json()
    process.send_signal(signal.SIGINT)
    rest, errors = await asyncio.wait_for(process.communicate(), 15)

    assert first_line.startswith(READY_LINE_PREFIX)
    assert not root_url.endswith(":0")
    text = "".join(banner)
    assert f"{root_url}/v1" in text
    assert "/api-services/v1/auth/token" in text
    assert accounts[0]["auth_token"] in text and accounts[0]["webhook_secret"] in text
    assert "/_emulator/accounts" in text
    assert len(accounts) == 3
    assert process.returncode == 0
    assert b"Traceback" not in errors
    assert b"stopped" in rest


async def test_spawned_process_exposes_urls_and_credentials() -> None:
    emulator = await spawn_emulator_process(["--seed-sims", "4", "--child-accounts", "1"])
    try:
        auth = aiohttp.encode_basic_auth(emulator.parent.account_sid, emulator.parent.auth_token)
        async with (
            aiohttp.ClientSession(headers={"Authorization": auth}) as session,
            session.get(f"{emulator.api_url}/Sims") as response,
        ):
            body = await response.json()
    finally:
        await emulator.stop()

    assert len(body["sims"]) == 4
    assert len(emulator.accounts) == 2
    assert emulator.accounts[1].parent_account_sid == emulator.parent.account_sid
    assert emulator.process.returncode == 0
