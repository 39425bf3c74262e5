"""What every `simops` command shares: settings, exit codes, and one-line errors, not tracebacks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from enum import IntEnum, StrEnum
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from temporalio.client import Client

from simops.campaigns.store.errors import CampaignStoreError
from simops.observability.tracing import client_interceptors
from simops.runtime import event_loop, gc_tuning
from simops.runtime.env_file import EnvFileError
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import (
    TemporalSetupError,
    connect,
    connect_error_message,
    temporal_target,
)
from simops.runtime.tokens import TokenError
from simops.supersim.errors import ConfigurationError, NotFoundError, SuperSimError

T = TypeVar("T")


class ExitCode(IntEnum):
    """The exit codes of every simops command."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2


class OutputFormat(StrEnum):
    """How a command prints its result."""

    TEXT = "text"
    JSON = "json"


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    """Print one clear line on stderr and leave with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


def first_line(error: Exception) -> str:
    """An error's message in one line (a database driver's can run to several)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def store_problem(error: Exception) -> str:
    """What a campaign-store error says, in one line."""
    if isinstance(error, CampaignStoreError):
        return first_line(error)
    return f"cannot use the campaign store: {first_line(error)}"


def _setting_problem(issue: ErrorDetails) -> str:
    """One refused setting: a message that names its setting itself (the tokens' rules) as it
    is, others after the setting's name."""
    error = issue.get("ctx", {}).get("error")
    if isinstance(error, TokenError):
        return str(error)
    return f"SIMOPS_{'_'.join(str(part) for part in issue['loc']).upper()}: {issue['msg']}"


def load_settings() -> SimopsSettings:
    """The settings from the environment and `.simops/env`, or a clear error naming the problem."""
    try:
        return SimopsSettings()
    except EnvFileError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except ValidationError as error:
        problems = "; ".join(_setting_problem(issue) for issue in error.errors())
        fail(f"invalid configuration: {problems}", ExitCode.BAD_INPUT)


def run_command(command: Coroutine[Any, Any, T]) -> T:
    """Run an async command; errors a person can act on become one line and an exit code."""
    try:
        return event_loop.run(command)
    except ConfigurationError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except NotFoundError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except SuperSimError as error:
        fail(f"the Super SIM API answered: {error}", ExitCode.FAILED)
    except TemporalSetupError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


async def connect_temporal(settings: SimopsSettings) -> Client:
    """A Temporal client, or one line saying what failed and what to set."""
    try:
        target = temporal_target(settings)
    except TemporalSetupError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    try:
        return await connect(settings, target, client_interceptors(settings))
    except RuntimeError as error:
        hint = "" if target.tls else "; start `simops dev` or set SIMOPS_TEMPORAL_ADDRESS"
        fail(f"cannot connect to {connect_error_message(target, error)}{hint}", ExitCode.BAD_INPUT)


def install_stop_handlers(stop: asyncio.Event) -> None:
    """Ctrl-C, SIGTERM and SIGHUP (its terminal closed) set `stop`, so a long-running command
    shuts down cleanly: `simops dev` stops its children rather than die and leave them running."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


ServiceRunner = Callable[
    [SimopsSettings, asyncio.Event, str, int, asyncio.Event | None], Awaitable[None]
]
"""Runs a long-lived web service (the dashboard, the JSON API) until its stop event is set."""


async def serve_until_stopped(
    run: ServiceRunner, settings: SimopsSettings, host: str, port: int, announcement: str
) -> int:
    """Run a web service until Ctrl-C or SIGTERM, printing `announcement` once it listens; a
    port it cannot listen on is a one-line error."""
    stop = asyncio.Event()
    started = asyncio.Event()
    install_stop_handlers(stop)
    gc_tuning.tune_for_service()

    async def announce() -> None:
        await started.wait()
        typer.echo(f"{announcement} (Ctrl-C stops it)")

    announcing = asyncio.create_task(announce())
    try:
        await run(settings, stop, host, port, started)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}", ExitCode.BAD_INPUT)
    finally:
        announcing.cancel()
    return ExitCode.OK
