"""`simops db`: the campaign store's schema, upgraded and checked where the settings point
(`SIMOPS_DATABASE_URL`, else the SQLite files under `SIMOPS_CAMPAIGN_DIR`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from simops.campaigns.store.backends import StoreBackend, store_backend
from simops.campaigns.store.database import (
    DATABASE_ERRORS,
    SchemaAheadError,
    SchemaBehindError,
)
from simops.campaigns.store.schema import LATEST_VERSION
from simops.cli.support import ExitCode, OutputFormat, fail, first_line, load_settings

db_app = typer.Typer(
    help="The campaign store's database: its schema version and upgrades.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `simops db` to `simops`."""
    app.add_typer(db_app, name="db")


def _backend() -> StoreBackend:
    return store_backend(load_settings())


def unreachable(backend: StoreBackend, error: Exception) -> str:
    """One line saying the store cannot be reached, and why (the driver's first line)."""
    return f"cannot use the campaign store {backend.describe()}: {first_line(error)}"


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply the schema migrations the campaign store lacks (safe to run again, and from
    several machines at once)."""
    backend = _backend()
    try:
        done = backend.upgrade()
    except DATABASE_ERRORS as error:
        fail(unreachable(backend, error))
    except SchemaAheadError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    for line in done:
        typer.echo(line)
    typer.echo(f"{backend.describe()}: schema version {LATEST_VERSION}, up to date")


@db_app.command("status")
def status(
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="text or json.")
    ] = OutputFormat.TEXT,
) -> None:
    """Say where the campaign store is and whether its schema is the one this simops needs
    (exit 1 when `simops db upgrade` must run first)."""
    backend = _backend()
    problem: str | None = None
    try:
        backend.check()
        campaigns = len(backend.list_ids())
    except (SchemaBehindError, SchemaAheadError) as error:
        problem, campaigns = str(error), 0
    except DATABASE_ERRORS as error:
        fail(unreachable(backend, error))
    if output is OutputFormat.JSON:
        summary = {
            "store": backend.describe(),
            "latest_version": LATEST_VERSION,
            "up_to_date": problem is None,
            "problem": problem,
            "campaigns": campaigns,
        }
        typer.echo(json.dumps(summary))
    elif problem is None:
        typer.echo(
            f"{backend.describe()}: schema version {LATEST_VERSION}, up to date, "
            f"{campaigns} campaign{'s' if campaigns != 1 else ''}"
        )
    else:
        typer.echo(problem)
    if problem is not None:
        raise typer.Exit(int(ExitCode.FAILED))
