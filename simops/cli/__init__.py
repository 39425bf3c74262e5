"""The `simops` command: each area of simops registers its own sub-commands here."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

from simops.campaigns.store.errors import CampaignStoreError
from simops.cli.support import ExitCode, store_problem

if TYPE_CHECKING:
    # Typer's own copy of click, named only for the signatures TyperGroup declares.
    from typer._click import Command, Context

COMMAND_MODULES: dict[str, str] = {
    "emulator": "simops.emulator.cli",
    "worker": "simops.cli.stack",
    "callbacks": "simops.cli.stack",
    "dev": "simops.cli.stack",
    "sim": "simops.cli.sim",
    "sims": "simops.cli.sims",
    "fleets": "simops.cli.sims",
    "campaign": "simops.cli.campaign",
    "codec-key": "simops.cli.security",
    "scan": "simops.cli.security",
    "migrate": "simops.cli.migrate",
    "accounts": "simops.cli.accounts",
    "db": "simops.cli.database",
    "codec-server": "simops.cli.observability",
    "ui": "simops.cli.ui",
    "serve": "simops.cli.serve",
}
"""Each sub-command and the module whose `register(app)` adds it, in the order `--help` lists
them. A command imports only its own module: `simops campaign status` does not pay for the
emulator, the UI or `simops dev` (half of the command's start-up when all were imported)."""


class LazyCommands(TyperGroup):
    """The `simops` group: a sub-command's module is imported when the command is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        """Every sub-command, without importing any."""
        return list(COMMAND_MODULES)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """The sub-command `cmd_name`, its module imported and registered on its own app."""
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        registered = typer.Typer(pretty_exceptions_enable=False)
        importlib.import_module(module_name).register(registered)
        return typer.main.get_group(registered).commands[cmd_name]


app = typer.Typer(
    cls=LazyCommands,
    help="Durable bulk lifecycle changes for Super SIMs on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def simops() -> None:
    """Durable bulk lifecycle changes for Super SIMs on Temporal."""
    # Typer makes a group of an app with a callback; its commands are all loaded lazily.


def main() -> None:
    """Entry point of the `simops` console script."""
    try:
        app()
    except SystemExit as exit_request:
        code = exit_request.code
    except Exception as error:
        # Any command may meet a store it cannot use (a schema behind, a database down):
        # one line saying why, never a traceback. The drivers are imported here, not for
        # every command: `simops sim` uses no store and starts faster without them.
        from simops.campaigns.store.database import DATABASE_ERRORS

        if not isinstance(error, (CampaignStoreError, *DATABASE_ERRORS)):
            raise
        typer.echo(f"error: {store_problem(error)}", err=True)
        code = int(ExitCode.FAILED)
    else:
        code = 0
    # Leave without interpreter finalization: the Temporal client's native threads may still
    # call into Python while it tears down, which aborts the process after its work is done.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
