"""`simops sims` and `simops fleets`: a thin operator CLI over the Super SIM client.

Exit codes: 0 on success, 1 when the API refuses or the SIM is not found, 2 when simops is not
configured (no credentials) or the input is invalid. Errors are one line on stderr.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Coroutine, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simops.cli.support import ExitCode, fail, load_settings
from simops.core.sim import SimStatus, is_sid
from simops.runtime import event_loop
from simops.runtime.settings import SimopsSettings
from simops.supersim.accounts import account_access
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import ConfigurationError, NotFoundError, SuperSimError

SIM_COLUMNS = ("sid", "unique_name", "status", "fleet_sid", "iccid", "account_sid", "date_updated")
FLEET_COLUMNS = (
    "sid",
    "unique_name",
    "network_access_profile_sid",
    "data_limit",
    "data_enabled",
    "sms_commands_enabled",
    "account_sid",
)
WIDE_CONSOLE = 240
"""Table width when stdout is not a terminal, so SIDs are never wrapped mid-way."""


class Output(StrEnum):
    """How a listing is printed."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="table, json or csv", case_sensitive=False)
]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="Act as this child account (AC…): its own SIMs or Fleets. Default: the account "
        "the credentials belong to.",
    ),
]

sims_app = typer.Typer(help="Read Super SIMs through the API.", no_args_is_help=True)
fleets_app = typer.Typer(help="Read Fleets through the API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `simops sims` and `simops fleets` to the `simops` command."""
    app.add_typer(sims_app, name="sims")
    app.add_typer(fleets_app, name="fleets")


def _run(command: Coroutine[Any, Any, None]) -> None:
    try:
        event_loop.run(command)
    except ConfigurationError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except NotFoundError as error:
        fail(str(error), ExitCode.FAILED)
    except SuperSimError as error:
        fail(f"the Super SIM API answered: {error}", ExitCode.FAILED)


def _settings_as(account: str | None) -> SimopsSettings:
    """The settings, acting as `account` when one is given, or a one-line error (exit 2)."""
    settings = load_settings()
    if account is None:
        return settings
    if not is_sid(account, "AC"):
        fail("--account takes an Account SID (AC + 32 hex digits)", ExitCode.BAD_INPUT)
    access = account_access(settings, account)
    if access is None:
        fail(
            f"nothing configured can act as account {account}: set the parent's "
            "SIMOPS_TWILIO_ACCOUNT_SID and SIMOPS_TWILIO_AUTH_TOKEN, or the account's Auth "
            "Token in SIMOPS_TWILIO_AUTH_TOKENS",
            ExitCode.BAD_INPUT,
        )
    return access.settings


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else WIDE_CONSOLE)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def _print(resources: Sequence[BaseModel], columns: Sequence[str], output: Output) -> None:
    """Print resources as a table, a JSON array or CSV with a header row.

    Table cells are escaped: rich reads `[...]` as markup, and API data (a unique name a
    customer chose) may hold any text, `[/bold]` included.
    """
    if output is Output.JSON:
        typer.echo(json.dumps([resource.model_dump(mode="json") for resource in resources]))
        return
    rows = [[_cell(getattr(resource, column)) for column in columns] for resource in resources]
    if output is Output.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*map(escape, row))
    _console().print(table)


def _print_one(resource: BaseModel, columns: Sequence[str], output: Output) -> None:
    """Print one resource: every field as a two-column table, a JSON object, or one CSV row."""
    if output is Output.JSON:
        typer.echo(json.dumps(resource.model_dump(mode="json")))
    elif output is Output.CSV:
        _print([resource], columns, output)
    else:
        table = Table("field", "value")
        for field, value in resource.model_dump(mode="json").items():
            shown = json.dumps(value) if isinstance(value, dict) else _cell(value)
            table.add_row(field, escape(shown))
        _console().print(table)


@sims_app.command("list")
def list_sims(
    status: Annotated[
        SimStatus | None, typer.Option(help="Only SIMs in this status.", case_sensitive=False)
    ] = None,
    fleet: Annotated[str | None, typer.Option(help="Only SIMs of this Fleet (SID, name).")] = None,
    iccid: Annotated[str | None, typer.Option(help="Only the SIM with this ICCID.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Print at most this many.")] = None,
    output: OutputOption = Output.TABLE,
    account: AccountOption = None,
) -> None:
    """List the account's SIMs (a parent's include its children's), following every page."""
    settings = _settings_as(account)

    async def command() -> None:
        async with SuperSimClient.from_settings(settings) as client:
            sims = [
                sim
                async for sim in client.list_sims(
                    status=status, fleet=fleet, iccid=iccid, limit=limit
                )
            ]
        _print(sims, SIM_COLUMNS, output)

    _run(command())


@sims_app.command("get")
def get_sim(
    sim: Annotated[str, typer.Argument(help="A SIM's SID, unique name or ICCID.")],
    output: OutputOption = Output.TABLE,
) -> None:
    """Show one SIM, found by SID, unique name or ICCID."""

    async def command() -> None:
        async with SuperSimClient.from_settings(load_settings()) as client:
            found = await client.resolve_sim(sim)
        _print_one(found, SIM_COLUMNS, output)

    _run(command())


@fleets_app.command("list")
def list_fleets(output: OutputOption = Output.TABLE, account: AccountOption = None) -> None:
    """List the account's Fleets (Fleets are per account: a child's are listed as the child)."""
    settings = _settings_as(account)

    async def command() -> None:
        async with SuperSimClient.from_settings(settings) as client:
            fleets = await client.list_fleets()
        _print(fleets, FLEET_COLUMNS, output)

    _run(command())
