"""`simops codec-server`: the Temporal Web UI's window into encrypted payloads."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from aiohttp import web

from simops.cli.support import ExitCode, fail, install_stop_handlers, load_settings, run_command
from simops.observability.codec_server import CodecServer
from simops.observability.logging import configure_logging
from simops.runtime.hosts import is_loopback
from simops.runtime.temporal import data_converter


def register(app: typer.Typer) -> None:
    """Add `simops codec-server` to the command."""
    app.command("codec-server")(codec_server)


async def _serve(server: CodecServer, host: str, port: int) -> int:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        print(f"codec server on http://{host}:{port} (Ctrl-C stops it)", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
    return ExitCode.OK


def codec_server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    ui_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Origin of the Temporal Web UI allowed to call it (repeatable); default "
            "SIMOPS_CODEC_CORS_ORIGINS."
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Serve without SIMOPS_CODEC_TOKEN (a loopback address only: local use).",
        ),
    ] = False,
) -> None:
    """Decode (and encode) payloads for the Temporal Web UI and CLI with SIMOPS_PAYLOAD_KEY."""
    settings = load_settings()
    configure_logging(settings)
    codec = data_converter(settings).payload_codec
    if codec is None:
        fail("set SIMOPS_PAYLOAD_KEY: without it payloads are not encrypted", ExitCode.BAD_INPUT)
    if no_auth and not is_loopback(host):
        fail("--no-auth serves only a loopback address (such as 127.0.0.1)", ExitCode.BAD_INPUT)
    if settings.codec_token is None and not no_auth:
        fail(
            "set SIMOPS_CODEC_TOKEN (callers send `Authorization: Bearer <token>`), or pass "
            "--no-auth to serve a loopback address without one",
            ExitCode.BAD_INPUT,
        )
    token = settings.codec_token
    server = CodecServer(
        codec,
        origins=ui_origin or settings.codec_cors_origins,
        token=None if no_auth or token is None else token.get_secret_value(),
    )
    raise typer.Exit(run_command(_serve(server, host, port)))
