"""`simops sim …`: change one SIM durably and report how it ended.

Each command resolves the SIM (SID, unique name or ICCID), starts its operation workflow
`sim-{sid}` and by default waits for the outcome. Exit codes: 0 converged or already converged,
1 failed (reason on stderr), 2 bad input or configuration.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from simops.cli.support import (
    ExitCode,
    OutputFormat,
    connect_temporal,
    fail,
    load_settings,
    run_command,
)
from simops.clients.sims import SimBusyError, running_progress, start_sim_operation
from simops.core.codes import RuleCode
from simops.core.sim import OutcomeKind, SimSnapshot, SimStatus, is_sid
from simops.runtime.settings import SimopsSettings
from simops.sim_messages import OperationName, SimOperationOutcome, SimOperationRequest

if TYPE_CHECKING:
    from simops.supersim.client import SuperSimClient

sim_app = typer.Typer(
    help="Change one SIM durably: activate, deactivate, move, ...", no_args_is_help=True
)

SimArgument = Annotated[str, typer.Argument(help="The SIM: its SID, unique name or ICCID.")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Return once the operation has started.")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="text or json.")]


def register(app: typer.Typer) -> None:
    """Add `simops sim` to the command."""
    app.add_typer(sim_app, name="sim")


def _describe(snapshot: SimSnapshot | None) -> str:
    if snapshot is None:
        return "unknown"
    fleet = snapshot.fleet_sid or "no fleet"
    return f"{snapshot.status.value} ({fleet}, account {snapshot.account_sid})"


def _print_outcome(outcome: SimOperationOutcome, output: OutputFormat) -> None:
    if output == OutputFormat.JSON:
        typer.echo(outcome.model_dump_json())
        return
    seconds = (outcome.finished_at - outcome.started_at).total_seconds()
    typer.echo(
        f"{outcome.outcome.value}: SIM {outcome.sim_sid} {outcome.operation} in {seconds:.2f} s, "
        f"{outcome.writes} write(s); before {_describe(outcome.before)}, "
        f"after {_describe(outcome.after)}"
    )


def _api_client(settings: SimopsSettings) -> SuperSimClient:
    # Imported on use: only a SIM named by unique name or ICCID, and `sim status`, need the API
    # client, and aiohttp is the largest import a `simops sim` command would otherwise pay.
    from simops.supersim.client import SuperSimClient

    return SuperSimClient.from_settings(settings)


async def _sim_sid(settings: SimopsSettings, sim: str) -> str:
    """The SID of the SIM `sim` names. A SID is taken as it is, with no API request: it names
    the workflow, whose first step reads the SIM (an unknown one ends it as not found)."""
    reference = sim.strip()
    if is_sid(reference, "HS"):
        # The API's SIDs are lower-case hex: one SIM, one workflow ID, however it was typed.
        return reference[:2] + reference[2:].lower()
    async with _api_client(settings) as api:
        return (await api.resolve_sim(reference)).sid


async def _operate(
    sim: str, operation: OperationName, no_wait: bool, output: OutputFormat, **desired: Any
) -> int:
    settings = load_settings()
    sim_sid = await _sim_sid(settings, sim)
    client = await connect_temporal(settings)
    request = SimOperationRequest(
        sim_sid=sim_sid,
        operation=operation,
        callback_wait_seconds=settings.callback_wait_seconds,
        deadline_seconds=settings.operation_deadline_seconds,
        **desired,
    )
    try:
        handle = await start_sim_operation(client, settings.task_queue, request)
    except SimBusyError as busy:
        fail(str(busy), ExitCode.FAILED)
    if no_wait:
        typer.echo(f"started {operation} of SIM {sim_sid} as workflow {handle.id}")
        return ExitCode.OK
    outcome = await handle.result()
    if outcome.code == int(RuleCode.NOT_FOUND) and outcome.before is None:
        # The SIM was never read: the SID named none, bad input as when a name matches none.
        fail(outcome.reason or f"SIM {sim_sid} not found", ExitCode.BAD_INPUT)
    _print_outcome(outcome, output)
    if outcome.outcome in (OutcomeKind.CONVERGED, OutcomeKind.ALREADY_CONVERGED):
        return ExitCode.OK
    code = f" [{outcome.code}]" if outcome.code is not None else ""
    fail(f"{operation} of SIM {sim_sid} failed{code}: {outcome.reason}", ExitCode.FAILED)


def _run(
    sim: str, operation: OperationName, no_wait: bool, output: OutputFormat, **desired: Any
) -> None:
    raise typer.Exit(run_command(_operate(sim, operation, no_wait, output, **desired)))


@sim_app.command()
def activate(
    sim: SimArgument,
    fleet: Annotated[str | None, typer.Option(help="Fleet SID or unique name to assign.")] = None,
    ready: Annotated[
        bool, typer.Option("--ready", help="Activate to `ready` (no monthly fee).")
    ] = False,
    no_wait: NoWait = False,
    output: Output = OutputFormat.TEXT,
) -> None:
    """Activate a SIM (to `active`, or `ready` with --ready), assigning --fleet if given."""
    status = SimStatus.READY if ready else SimStatus.ACTIVE
    _run(sim, "ready" if ready else "activate", no_wait, output, status=status, fleet=fleet)


@sim_app.command()
def deactivate(
    sim: SimArgument, no_wait: NoWait = False, output: Output = OutputFormat.TEXT
) -> None:
    """Deactivate a SIM (to `inactive`): it can no longer connect."""
    _run(sim, "deactivate", no_wait, output, status=SimStatus.INACTIVE)


@sim_app.command()
def reactivate(
    sim: SimArgument, no_wait: NoWait = False, output: Output = OutputFormat.TEXT
) -> None:
    """Reactivate an `inactive` SIM (to `active`)."""
    _run(
        sim,
        "reactivate",
        no_wait,
        output,
        status=SimStatus.ACTIVE,
        from_statuses=[SimStatus.INACTIVE],
    )


@sim_app.command("set-fleet")
def set_fleet(
    sim: SimArgument,
    fleet: Annotated[str, typer.Argument(help="Fleet SID or unique name.")],
    no_wait: NoWait = False,
    output: Output = OutputFormat.TEXT,
) -> None:
    """Assign a SIM to a Fleet."""
    _run(sim, "set-fleet", no_wait, output, fleet=fleet)


@sim_app.command()
def rename(
    sim: SimArgument,
    name: Annotated[str, typer.Argument(help="The new unique name.")],
    no_wait: NoWait = False,
    output: Output = OutputFormat.TEXT,
) -> None:
    """Give a SIM a new unique name."""
    _run(sim, "rename", no_wait, output, unique_name=name)


@sim_app.command()
def move(
    sim: SimArgument,
    to_account: Annotated[str, typer.Option("--to-account", help="Destination Account SID (AC…).")],
    fleet: Annotated[
        str | None, typer.Option(help="Fleet of the destination account (SID or unique name).")
    ] = None,
    no_fleet: Annotated[bool, typer.Option("--no-fleet", help="Move without a Fleet.")] = False,
    allow_inactive_move: Annotated[
        bool, typer.Option(help="Move an inactive SIM (needs the account's private beta).")
    ] = False,
    no_wait: NoWait = False,
    output: Output = OutputFormat.TEXT,
) -> None:
    """Move a SIM to another account (the parent or one of its children)."""
    if fleet is not None and no_fleet:
        fail("give either --fleet or --no-fleet, not both", ExitCode.BAD_INPUT)
    _run(
        sim,
        "move",
        no_wait,
        output,
        account_sid=to_account,
        fleet=fleet,
        remove_fleet=no_fleet,
        allow_inactive_move=allow_inactive_move,
    )


async def _status(sim: str, output: OutputFormat) -> int:
    settings = load_settings()
    async with _api_client(settings) as api:
        observed = SimSnapshot.of(await api.resolve_sim(sim))
    client = await connect_temporal(settings)
    progress = await running_progress(client, observed.sid)
    if output == OutputFormat.JSON:
        operation = progress.model_dump(mode="json") if progress else None
        typer.echo(json.dumps({"sim": observed.model_dump(mode="json"), "operation": operation}))
        return ExitCode.OK
    name = f" ({observed.unique_name})" if observed.unique_name else ""
    typer.echo(f"SIM {observed.sid}{name}: {_describe(observed)}")
    if progress is None:
        typer.echo("no operation running")
    else:
        typer.echo(
            f"operation {progress.operation}: {progress.state}, step {progress.step}, "
            f"{progress.writes} write(s), {progress.callbacks_received} callback(s)"
        )
    return ExitCode.OK


@sim_app.command()
def status(sim: SimArgument, output: Output = OutputFormat.TEXT) -> None:
    """Show a SIM and the operation running on it, if any."""
    raise typer.Exit(run_command(_status(sim, output)))
