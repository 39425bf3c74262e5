"""The `simops` command: each area of simops registers its own sub-commands here."""

from __future__ import annotations

import logging
import os
import sys

import typer

from simops.campaigns.store.database import DATABASE_ERRORS
from simops.campaigns.store.errors import CampaignStoreError
from simops.cli.campaign import register as register_campaign
from simops.cli.database import register as register_database
from simops.cli.migrate import register as register_migrate
from simops.cli.observability import register as register_observability
from simops.cli.security import register as register_security
from simops.cli.sim import register as register_sim
from simops.cli.sims import register as register_supersim
from simops.cli.stack import register as register_stack
from simops.cli.support import ExitCode, store_problem
from simops.cli.ui import register as register_ui
from simops.emulator.cli import register as register_emulator

app = typer.Typer(
    help="Durable bulk lifecycle changes for Super SIMs on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
register_emulator(app)
register_stack(app)
register_sim(app)
register_supersim(app)
register_campaign(app)
register_security(app)
register_migrate(app)
register_database(app)
register_observability(app)
register_ui(app)


def main() -> None:
    """Entry point of the `simops` console script."""
    try:
        app()
    except SystemExit as exit_request:
        code = exit_request.code
    except Exception as error:
        # Any command may meet a store it cannot use (a schema behind, a database down):
        # one line saying why, never a traceback.
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
