"""`simops serve`: the JSON API, as its own long-running process."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from simops.api.app import DEFAULT_HOST, DEFAULT_PORT, api_url, run_api
from simops.api.auth import ApiConfigError, check_api_bind
from simops.cli.support import ExitCode, fail, install_stop_handlers, load_settings, run_command
from simops.runtime import gc_tuning
from simops.runtime.settings import SimopsSettings


def register(app: typer.Typer) -> None:
    """Add `simops serve` to `simops`."""
    app.command("serve")(serve)


async def _serve(settings: SimopsSettings, host: str, port: int) -> int:
    stop = asyncio.Event()
    started = asyncio.Event()
    install_stop_handlers(stop)
    gc_tuning.tune_for_service()

    async def announce() -> None:
        await started.wait()
        typer.echo(f"JSON API: {api_url(host, port)} (Ctrl-C stops it)")

    announcing = asyncio.create_task(announce())
    try:
        await run_api(settings, stop, host, port, started)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}", ExitCode.BAD_INPUT)
    finally:
        announcing.cancel()
    return ExitCode.OK


def serve(
    host: Annotated[
        str,
        typer.Option(help="Address to listen on; past loopback, SIMOPS_API_TOKENS is required."),
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
) -> None:
    """Serve the JSON API (/api/v1): start, list, pause, resume, cancel, report and retry
    campaigns and migrations; its OpenAPI document is /api/v1/openapi.json."""
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    try:
        check_api_bind(host, settings.api_tokens)
    except ApiConfigError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    raise typer.Exit(run_command(_serve(settings, host, port)))
