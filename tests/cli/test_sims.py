"""`simops sims` and `simops fleets` against a live emulator: formats, lookups, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import Result

from simops.cli.sims import SIM_COLUMNS
from simops.core.sim import SimUpdate
from simops.emulator.server import RunningEmulator
from simops.supersim.client import SuperSimClient
from tests.helpers.stacks import invoke_cli

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated")]


def credentials(emulator: RunningEmulator) -> dict[str, str]:
    parent = emulator.parent
    return {
        "SIMOPS_API_URL": emulator.api_url,
        "SIMOPS_KORE_TOKEN_URL": emulator.token_url,
        "SIMOPS_KORE_CLIENT_ID": parent.client_id,
        "SIMOPS_KORE_CLIENT_SECRET": parent.client_secret,
    }


async def simops(
    emulator: RunningEmulator | None, *args: str, env: dict[str, str] | None = None
) -> Result:
    """Run `simops ARGS` in a thread, so that this loop keeps serving the emulator."""
    settings = credentials(emulator) if emulator is not None else {}
    settings.update(env or {})
    return await invoke_cli(*args, env=settings)


async def test_list_as_a_table(emulator: RunningEmulator, client: SuperSimClient) -> None:
    sids = [sim.sid async for sim in client.list_sims()]
    result = await simops(emulator, "sims", "list")
    assert result.exit_code == 0, result.output
    assert all(column in result.stdout for column in SIM_COLUMNS)
    assert all(sid in result.stdout for sid in sids)


async def test_list_as_json_and_csv(emulator: RunningEmulator, client: SuperSimClient) -> None:
    sids = [sim.sid async for sim in client.list_sims()]
    as_json = await simops(emulator, "sims", "list", "--output", "json")
    assert as_json.exit_code == 0, as_json.output
    assert [item["sid"] for item in json.loads(as_json.stdout)] == sids
    as_csv = await simops(emulator, "sims", "list", "-o", "csv", "--status", "new", "--limit", "5")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["sid"] for row in rows] == sids[:5]
    assert tuple(rows[0]) == SIM_COLUMNS
    assert {row["status"] for row in rows} == {"new"}


async def test_list_by_iccid_and_fleet(emulator: RunningEmulator, client: SuperSimClient) -> None:
    first, second = [sim async for sim in client.list_sims(limit=2)]
    assert first.iccid is not None
    by_iccid = await simops(emulator, "sims", "list", "--iccid", first.iccid, "-o", "json")
    assert [item["sid"] for item in json.loads(by_iccid.stdout)] == [first.sid]
    await client.update_sim(second.sid, SimUpdate(fleet="iot-eu"))
    by_fleet = await simops(emulator, "sims", "list", "--fleet", "iot-eu", "-o", "json")
    assert [item["sid"] for item in json.loads(by_fleet.stdout)] == [second.sid]


async def test_get_by_sid_unique_name_or_iccid(
    emulator: RunningEmulator, client: SuperSimClient
) -> None:
    sim = (await client.list_sims_page(page_size=1)).sims[0]
    await client.update_sim(sim.sid, SimUpdate(unique_name="gateway-7"))
    assert sim.iccid is not None
    for reference in (sim.sid, "gateway-7", sim.iccid):
        result = await simops(emulator, "sims", "get", reference, "--output", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["sid"] == sim.sid
    table = await simops(emulator, "sims", "get", "gateway-7")
    assert table.exit_code == 0, table.output
    assert sim.sid in table.stdout and "unique_name" in table.stdout


async def test_an_unknown_sim_exits_1_with_one_line(emulator: RunningEmulator) -> None:
    for reference in ("no-such-sim", "89883070999999999999"):
        result = await simops(emulator, "sims", "get", reference)
        assert result.exit_code == 1
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert "89883070999999999999" not in result.stderr


async def test_fleets_list(emulator: RunningEmulator) -> None:
    result = await simops(emulator, "fleets", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [fleet["sid"] for fleet in json.loads(result.stdout)] == emulator.parent.fleets
    table = await simops(emulator, "fleets", "list")
    assert all(sid in table.stdout for sid in emulator.parent.fleets)


async def test_missing_configuration_exits_2_with_one_line() -> None:
    result = await simops(None, "sims", "list")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SIMOPS_KORE_CLIENT_ID" in lines[0] and "SIMOPS_BEARER_TOKEN" in lines[0]


def test_the_installed_command_exits_2_without_configuration(tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if name.startswith("PATH")}
    completed = subprocess.run(
        [sys.executable, "-c", "from simops.cli import main; main()", "fleets", "list"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith("error: no Super SIM API credentials")
    assert len(completed.stderr.strip().splitlines()) == 1


MARKUP = ["[/bold]", "[red]x", "a[b]c\\[d]", "[link=http://e.example]f[/link]"]
"""Unique names rich would read as markup (or choke on), as a customer may choose them."""


async def test_markup_in_api_data_is_printed_as_text(
    emulator: RunningEmulator, client: SuperSimClient
) -> None:
    sims = [sim async for sim in client.list_sims(limit=len(MARKUP))]
    for sim, name in zip(sims, MARKUP, strict=True):
        await client.update_sim(sim.sid, SimUpdate(unique_name=name))
    await client.create_fleet(network_access_profile="default", unique_name="[/]fleet[bold]")

    listed = await simops(emulator, "sims", "list")
    shown = [await simops(emulator, "sims", "get", sim.sid) for sim in sims]
    fleets = await simops(emulator, "fleets", "list")

    for result in (listed, *shown, fleets):
        assert result.exit_code == 0, result.output
    for name, one in zip(MARKUP, shown, strict=True):
        assert name in listed.stdout and name in one.stdout
    assert "[/]fleet[bold]" in fleets.stdout


def child_credentials(emulator: RunningEmulator) -> dict[str, str]:
    """The Auth Tokens of every account: what lets the parent's configuration act as a child."""
    tokens = {account.account_sid: account.auth_token for account in emulator.accounts}
    return {"SIMOPS_TWILIO_AUTH_TOKENS": json.dumps(tokens)}


async def test_lists_act_as_a_child_account_with_account(
    emulator: RunningEmulator, client: SuperSimClient
) -> None:
    child = emulator.accounts[1]
    moved = [sim.sid async for sim in client.list_sims(limit=3)]
    for sid in moved:
        await client.update_sim(sid, SimUpdate(account_sid=child.account_sid))
    env = child_credentials(emulator)

    sims = await simops(
        emulator, "sims", "list", "--account", child.account_sid, "-o", "json", env=env
    )
    fleets = await simops(
        emulator, "fleets", "list", "--account", child.account_sid, "-o", "json", env=env
    )

    assert sims.exit_code == 0, sims.output
    listed = [item["sid"] for item in json.loads(sims.stdout)]
    assert sorted(listed) == sorted(moved)
    assert fleets.exit_code == 0, fleets.output
    assert [fleet["sid"] for fleet in json.loads(fleets.stdout)] == child.fleets
    assert set(child.fleets).isdisjoint(emulator.parent.fleets)


@pytest.mark.parametrize("command", [["sims", "list"], ["fleets", "list"]])
async def test_an_account_nothing_can_act_as_is_one_line_exit_2(
    emulator: RunningEmulator, command: list[str]
) -> None:
    child = emulator.accounts[1].account_sid
    not_a_sid = await simops(emulator, *command, "--account", "AC123")
    no_credentials = await simops(emulator, *command, "--account", child)

    for result, problem in ((not_a_sid, "Account SID"), (no_credentials, child)):
        assert result.exit_code == 2
        assert result.stderr.startswith("error: ") and problem in result.stderr
        assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1
