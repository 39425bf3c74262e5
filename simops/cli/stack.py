"""`simops worker`, `simops callbacks` and `simops dev`: the long-running processes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from simops.callbacks.ingress import UnsignedCallbacksError
from simops.callbacks.server import run_ingress
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.database import DATABASE_ERRORS, SchemaAheadError, SchemaBehindError
from simops.cli.database import unreachable
from simops.cli.support import ExitCode, fail, install_stop_handlers, load_settings, run_command
from simops.devstack.dev import DevOptions, ServiceExited, default_workers, run_dev
from simops.devstack.processes import StackError
from simops.observability.health import Readiness
from simops.observability.logging import configure_logging
from simops.observability.server import observed_process
from simops.observability.tracing import configure_tracing
from simops.runtime import gc_tuning
from simops.runtime.settings import SimopsSettings
from simops.ui.app import DEFAULT_PORT
from simops.worker import run_worker


def register(app: typer.Typer) -> None:
    """Add the long-running commands to `simops`."""
    app.command("worker")(worker)
    app.command("callbacks")(callbacks)
    app.command("dev")(dev)


async def _until_stopped(
    service: Callable[[SimopsSettings, asyncio.Event, Readiness], Awaitable[None]],
) -> int:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    settings = load_settings()
    gc_tuning.tune_for_service()
    configure_tracing(settings)
    async with observed_process(settings.metrics_host, settings.metrics_port) as readiness:
        await service(settings, stop, readiness)
    return ExitCode.OK


def worker() -> None:
    """Run a worker: SIM operation workflows and their activities, on SIMOPS_TASK_QUEUE.

    It refuses to start while the campaign store's schema is behind (`simops db upgrade`)."""
    settings = load_settings()
    configure_logging(settings)
    try:
        code = run_command(_until_stopped(run_worker))
    except (SchemaBehindError, SchemaAheadError) as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except DATABASE_ERRORS as error:
        fail(unreachable(store_backend(settings), error))
    raise typer.Exit(code)


def callbacks(
    allow_unsigned: Annotated[
        bool,
        typer.Option(
            "--allow-unsigned",
            help="Accept callbacks of accounts with no provider secret configured, "
            "authenticated by the callback URL's HMAC only (local experiments).",
        ),
    ] = False,
) -> None:
    """Run the callback ingress on SIMOPS_CALLBACK_HOST:SIMOPS_CALLBACK_PORT."""
    settings = load_settings()
    configure_logging(settings)
    if settings.callback_secret is None:
        fail("set SIMOPS_CALLBACK_SECRET to run the callback ingress", ExitCode.BAD_INPUT)
    try:
        code = run_command(
            _until_stopped(functools.partial(run_ingress, allow_unsigned=allow_unsigned))
        )
    except UnsignedCallbacksError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    raise typer.Exit(code)


async def _dev(options: DevOptions) -> int:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    gc_tuning.tune_for_service()
    try:
        await run_dev(options, stop)
    except ServiceExited as error:
        fail(str(error), ExitCode.FAILED)
    except StackError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    return ExitCode.OK


def dev(
    directory: Annotated[Path, typer.Option(help="Where state and settings live.")] = Path(
        ".simops"
    ),
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
    emulator_port: Annotated[int, typer.Option(help="Super SIM emulator port.")] = 8787,
    callback_port: Annotated[int, typer.Option(help="Callback ingress port.")] = 8788,
    metrics_port: Annotated[
        int,
        typer.Option(help="Metrics and health port of the ingress; worker N uses the port + N."),
    ] = 9464,
    dashboard_port: Annotated[
        int, typer.Option(help="Campaign dashboard port (`simops ui`).")
    ] = DEFAULT_PORT,
    seed_sims: Annotated[int, typer.Option(help="new SIMs seeded on first start.")] = 1000,
    scheduled_delay: Annotated[
        str, typer.Option(help="Seconds until a scheduled update completes: 2 or 0.5-3.")
    ] = "0.5-2",
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (default: one per two cores).")
    ] = default_workers(),
) -> None:
    """Run the whole stack locally: Temporal, the emulator, the callback ingress and workers and
    the campaign dashboard, each in a process of its own (logs in DIRECTORY/*.log)."""
    # The environment alone: `.simops/env` is what this command writes, not what it reads.
    configure_logging(SimopsSettings(_env_file=None), logging.WARNING)
    options = DevOptions(
        directory=directory,
        temporal_port=temporal_port,
        ui_port=ui_port,
        emulator_port=emulator_port,
        callback_port=callback_port,
        metrics_port=metrics_port,
        dashboard_port=dashboard_port,
        seed_sims=seed_sims,
        scheduled_delay=scheduled_delay,
        workers=workers,
    )
    raise typer.Exit(run_command(_dev(options)))
