"""`simops serve`: the JSON API, as its own long-running process."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from simops.api.app import DEFAULT_HOST, DEFAULT_PORT, api_url, run_api
from simops.api.auth import ApiConfigError, check_api_bind
from simops.cli.support import ExitCode, fail, load_settings, run_command, serve_until_stopped


def register(app: typer.Typer) -> None:
    """Add `simops serve` to `simops`."""
    app.command("serve")(serve)


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
    announcement = f"JSON API: {api_url(host, port)}"
    raise typer.Exit(run_command(serve_until_stopped(run_api, settings, host, port, announcement)))
