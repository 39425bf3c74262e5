"""`simops emulator`: run the Super SIM API emulator until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from simops.emulator.server import (
    EmulatorOptions,
    RunningEmulator,
    parse_delay,
    start_emulator,
)
from simops.runtime import event_loop, gc_tuning

READY_LINE_PREFIX = "Super SIM API emulator ready:"
"""The first line printed once serving; `process.spawn_emulator_process` waits for it."""


def banner(emulator: RunningEmulator) -> str:
    """What the emulator prints on start: URLs and the parent's credentials."""
    parent = emulator.parent
    children = len(emulator.accounts) - 1
    lines = [
        f"{READY_LINE_PREFIX} {emulator.root_url}",
        f"  API base URL : {emulator.api_url}",
        f"  Token URL    : {emulator.token_url}",
        "  Parent account",
        f"    Account SID    : {parent.account_sid}",
        f"    Auth Token     : {parent.auth_token}",
        f"    Client ID      : {parent.client_id}",
        f"    Client secret  : {parent.client_secret}",
        f"    Webhook secret : {parent.webhook_secret}",
        f"  {children} child account(s): credentials at GET {emulator.root_url}/_emulator/accounts",
        "  Control API: /_emulator/{accounts,inventory,stats,faults,clock,usage,sims}",
        "  Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


async def serve(options: EmulatorOptions) -> None:
    """Run an emulator until SIGINT or SIGTERM, then stop it cleanly."""
    emulator = await start_emulator(options)
    # The seeded store lives as long as the process: frozen, it stays out of every collection
    # (a million Sims would make each full one stall requests for a second).
    gc_tuning.tune_for_service()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(banner(emulator), flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
    print("Emulator stopped.", flush=True)


def _delay(value: str) -> tuple[float, float]:
    try:
        return parse_delay(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def run(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 0,
    seed_sims: Annotated[
        int, typer.Option(min=0, help="Sims registered to the parent, status new.")
    ] = 0,
    seed_inventory: Annotated[
        int, typer.Option(min=0, help="Unregistered ICCID + registration-code pairs.")
    ] = 0,
    child_accounts: Annotated[int, typer.Option(min=0, help="Child accounts of the parent.")] = 0,
    scheduled_delay: Annotated[
        str, typer.Option(help="Seconds until a scheduled update completes: 2 or 0.5-3.")
    ] = "1",
    max_concurrency: Annotated[
        int | None, typer.Option(min=1, help="Concurrent requests per account (429 beyond).")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Requests per second per account (429 beyond).")
    ] = None,
    token_ttl: Annotated[
        float, typer.Option(min=0.001, help="Lifetime of bearer tokens, seconds.")
    ] = 3600.0,
    state: Annotated[
        Path | None, typer.Option(help="SQLite file that keeps the state across restarts.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (reproducible SIDs).")] = None,
    inactive_move_beta: Annotated[
        bool, typer.Option(help="Enable the inactive-move private beta for every account.")
    ] = False,
    fleets_per_account: Annotated[
        int, typer.Option(min=0, help="Fleets seeded on every account.")
    ] = 2,
    callback_senders: Annotated[
        int,
        typer.Option(min=1, help="Callbacks delivered at once (each waits for its answer)."),
    ] = EmulatorOptions.callback_senders,
) -> None:
    """Run the Super SIM API emulator (Ctrl-C stops it)."""
    options = EmulatorOptions(
        host=host,
        port=port,
        seed_sims=seed_sims,
        seed_inventory=seed_inventory,
        child_accounts=child_accounts,
        scheduled_delay=_delay(scheduled_delay),
        max_concurrency=max_concurrency,
        rate=rate,
        token_ttl=token_ttl,
        state_file=state,
        random_seed=seed,
        inactive_move_beta=inactive_move_beta,
        fleets_per_account=fleets_per_account,
        callback_senders=callback_senders,
    )
    try:
        event_loop.run(serve(options))
    except OSError as error:
        print(f"Cannot start the emulator: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("Emulator stopped.", flush=True)


def register(app: typer.Typer) -> None:
    """Add the `emulator` command to the `simops` CLI."""
    app.command("emulator")(run)


def main() -> None:
    """`python -m simops.emulator`: the same command without the `simops` wrapper."""
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    standalone.command()(run)
    standalone()
