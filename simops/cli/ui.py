"""`simops ui`: the campaign dashboard, as its own long-running process."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from simops.cli.support import ExitCode, fail, load_settings, run_command, serve_until_stopped
from simops.ui.app import DEFAULT_HOST, DEFAULT_PORT, run_ui, ui_url
from simops.ui.security import UiConfigError, check_bind, ui_token


def register(app: typer.Typer) -> None:
    """Add `simops ui` to `simops`."""
    app.command("ui")(ui)


def ui(
    host: Annotated[
        str, typer.Option(help="Address to listen on; past loopback, SIMOPS_UI_TOKEN is required.")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
) -> None:
    """Serve the campaign dashboard: every campaign's progress, failures and throughput, with
    pause, resume, cancel and report downloads, in a browser."""
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    try:
        check_bind(host, ui_token(settings))
    except UiConfigError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    raise typer.Exit(
        run_command(
            serve_until_stopped(
                run_ui, settings, host, port, f"campaign dashboard: {ui_url(host, port)}"
            )
        )
    )
