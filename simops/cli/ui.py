"""`simops ui`: the campaign dashboard, as its own long-running process."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from simops.cli.support import ExitCode, fail, install_stop_handlers, load_settings, run_command
from simops.runtime import gc_tuning
from simops.runtime.settings import SimopsSettings
from simops.ui.app import DEFAULT_HOST, DEFAULT_PORT, run_ui, ui_url
from simops.ui.security import UiConfigError, check_bind, ui_token


def register(app: typer.Typer) -> None:
    """Add `simops ui` to `simops`."""
    app.command("ui")(ui)


async def _serve(settings: SimopsSettings, host: str, port: int) -> int:
    stop = asyncio.Event()
    started = asyncio.Event()
    install_stop_handlers(stop)
    gc_tuning.tune_for_service()

    async def announce() -> None:
        await started.wait()
        typer.echo(f"campaign dashboard: {ui_url(host, port)} (Ctrl-C stops it)")

    announcing = asyncio.create_task(announce())
    try:
        await run_ui(settings, stop, host, port, started)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}", ExitCode.BAD_INPUT)
    finally:
        announcing.cancel()
    return ExitCode.OK


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
    raise typer.Exit(run_command(_serve(settings, host, port)))
