"""`simops campaign …`: start, watch, steer and report bulk changes."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from temporalio.client import WorkflowExecutionStatus

from simops.activities.campaign_prepare import prepare_for_dry_run
from simops.campaign_store import CampaignNotFoundError, CampaignStore
from simops.cli_support import (
    ExitCode,
    OutputFormat,
    connect_temporal,
    fail,
    load_settings,
    run_command,
)
from simops.models import (
    CampaignAction,
    CampaignProgress,
    CampaignResult,
    CampaignSource,
    CampaignSpec,
    SimStatus,
)
from simops.operations import (
    CampaignAlreadyStartedError,
    CampaignHandle,
    campaign_status,
    start_campaign,
)
from simops.reports import render_plan, write_report
from simops.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.workflows.campaign import CampaignWorkflow, campaign_workflow_id

campaign_app = typer.Typer(
    help="Bulk changes: converge thousands of SIMs with pacing, controls and a report.",
    no_args_is_help=True,
)
CampaignId = Annotated[str, typer.Argument(help="The campaign's ID (--id at start).")]
TARGET_FLEET_ACTIONS = (CampaignAction.ACTIVATE, CampaignAction.READY, CampaignAction.SET_FLEET)
WATCH_INTERVAL_SECONDS = 1.0


def register(app: typer.Typer) -> None:
    """Add `simops campaign` to the command."""
    app.add_typer(campaign_app, name="campaign")


def parse_max_failures(text: str | None) -> tuple[int | None, float | None]:
    """`--max-failures 50` (a count) or `--max-failures 2%` (a share of the rows)."""
    if text is None:
        return None, None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", text)
    if match is None:
        fail(
            f"--max-failures takes a count (50) or a percentage (2%), not {text!r}",
            ExitCode.BAD_INPUT,
        )
    number, percent = match.groups()
    if percent:
        ratio = float(number) / 100
        if ratio > 1:
            fail(f"--max-failures {text}: a percentage is at most 100%", ExitCode.BAD_INPUT)
        return None, ratio
    if "." in number:
        fail(f"--max-failures {text}: a count is a whole number", ExitCode.BAD_INPUT)
    return int(number), None


def build_spec(
    *,
    campaign_id: str,
    action: CampaignAction,
    from_file: Path | None,
    status: SimStatus | None,
    fleet: str | None,
    filter_fleet: str | None,
    rate: float | None,
    concurrency: int,
    max_failures: str | None,
    canary: int,
) -> CampaignSpec:
    """The campaign's spec from the command line, or a one-line error (exit 2)."""
    if (from_file is None) == (status is None and filter_fleet is None and fleet is None):
        fail("give either --from-file FILE or a filter (--status, --fleet)", ExitCode.BAD_INPUT)
    if from_file is not None and (status is not None or filter_fleet is not None):
        fail("--from-file cannot be combined with --status or --filter-fleet", ExitCode.BAD_INPUT)
    if from_file is not None and not from_file.is_file():
        fail(f"{from_file}: no such file", ExitCode.BAD_INPUT)
    # --fleet is the Fleet to assign for actions that assign one; otherwise it filters.
    target_fleet = fleet if action in TARGET_FLEET_ACTIONS else None
    if from_file is None and action not in TARGET_FLEET_ACTIONS:
        filter_fleet = filter_fleet or fleet
    if action == CampaignAction.SET_FLEET and target_fleet is None and from_file is None:
        fail("--action set-fleet needs --fleet (the Fleet to assign)", ExitCode.BAD_INPUT)
    most, ratio = parse_max_failures(max_failures)
    try:
        return CampaignSpec(
            campaign_id=campaign_id,
            action=action,
            source=CampaignSource(
                file_name=from_file.name if from_file is not None else None,
                status=status if from_file is None else None,
                fleet=filter_fleet if from_file is None else None,
            ),
            fleet=target_fleet,
            rate=rate,
            concurrency=concurrency,
            max_failures=most,
            max_failure_ratio=ratio,
            canary=canary,
        )
    except ValidationError as error:
        problem = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        fail(f"invalid campaign: {problem}", ExitCode.BAD_INPUT)


async def _dry_run(settings: SimopsSettings, spec: CampaignSpec, from_file: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="simops-dry-run-") as scratch:
        store = CampaignStore.create(Path(scratch), spec, from_file)
        try:
            async with SuperSimClient.from_settings(settings) as api:
                plan = await prepare_for_dry_run(api, settings, store)
        finally:
            store.close()
    typer.echo(render_plan(plan))
    return ExitCode.OK


async def _start(
    settings: SimopsSettings, spec: CampaignSpec, from_file: Path | None, watch: bool
) -> int:
    client = await connect_temporal(settings)
    try:
        handle = await start_campaign(client, settings, spec, from_file)
    except CampaignAlreadyStartedError as already:
        typer.echo(str(already))
        return ExitCode.OK
    typer.echo(f"started campaign {spec.campaign_id} ({spec.action.value})")
    if not watch:
        typer.echo(f"follow it with: simops campaign status {spec.campaign_id} --watch")
        return ExitCode.OK
    return await _watch(handle, sys.stdout)


@campaign_app.command()
def start(
    action: Annotated[CampaignAction, typer.Option(help="What to do to every SIM.")],
    from_file: Annotated[
        Path | None, typer.Option(help="CSV with a header, or one SIM per line.")
    ] = None,
    status: Annotated[
        SimStatus | None, typer.Option(help="Filter: every SIM with this status.")
    ] = None,
    fleet: Annotated[
        str | None,
        typer.Option(
            help="Fleet to assign (activate, ready, set-fleet); for other actions, a filter."
        ),
    ] = None,
    filter_fleet: Annotated[
        str | None, typer.Option(help="Filter: SIMs of this Fleet (any action).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="At most this many requests/s.")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 200,
    max_failures: Annotated[
        str | None, typer.Option(help="Stop new writes after N failures, or P% of the rows.")
    ] = None,
    canary: Annotated[
        int, typer.Option(help="Converge this many SIMs first; go on only if none failed.")
    ] = 0,
    campaign_id: Annotated[
        str | None, typer.Option("--id", help="Campaign ID; starting an ID twice starts once.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Check every row, print the plan, write nothing.")
    ] = False,
    watch: Annotated[bool, typer.Option(help="Follow progress after starting.")] = False,
) -> None:
    """Start a campaign over a file of SIMs or an API filter."""
    settings = load_settings()
    spec = build_spec(
        campaign_id=campaign_id or f"{action.value}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}",
        action=action,
        from_file=from_file,
        status=status,
        fleet=fleet,
        filter_fleet=filter_fleet,
        rate=rate,
        concurrency=concurrency,
        max_failures=max_failures,
        canary=canary,
    )
    if dry_run:
        raise typer.Exit(run_command(_dry_run(settings, spec, from_file)))
    raise typer.Exit(run_command(_start(settings, spec, from_file, watch)))


def _progress_line(progress: CampaignProgress) -> str:
    counts = ", ".join(f"{kind.value} {count}" for kind, count in sorted(progress.counts.items()))
    total = progress.total_rows if progress.total_rows is not None else "?"
    rate = f", {progress.rows_per_second:.0f} rows/s" if progress.rows_per_second else ""
    eta = f", ETA {progress.eta_seconds:.0f} s" if progress.eta_seconds is not None else ""
    reason = f" ({progress.stop_reason})" if progress.stop_reason else ""
    return (
        f"campaign {progress.campaign_id}: {progress.phase.value}{reason}, "
        f"{progress.ended_rows}/{total} rows ended{rate}{eta}; {counts or 'nothing yet'}"
    )


def _result_line(result: CampaignResult) -> str:
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(result.counts.items()))
    reason = f" ({result.stop_reason})" if result.stop_reason else ""
    return f"campaign {result.campaign_id}: {result.phase.value}{reason}; {counts}"


async def _watch(handle: CampaignHandle, out: TextIO) -> int:
    console = Console(file=out)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("campaign", total=None, detail="")
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            progress = await handle.query(CampaignWorkflow.progress)
            counts = " ".join(f"{k.value}={v}" for k, v in sorted(progress.counts.items()))
            bar.update(
                task,
                description=f"{progress.campaign_id} {progress.phase.value}",
                total=progress.total_rows,
                completed=progress.ended_rows,
                detail=counts,
            )
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
    result = await handle.result()
    typer.echo(_result_line(result))
    return ExitCode.OK


async def _status(campaign_id: str, watch: bool, output: OutputFormat) -> int:
    settings = load_settings()
    client = await connect_temporal(settings)
    handle = client.get_workflow_handle_for(CampaignWorkflow.run, campaign_workflow_id(campaign_id))
    status = await campaign_status(client, campaign_id)
    if status is None:
        fail(f"no campaign {campaign_id}", ExitCode.BAD_INPUT)
    if watch and status == WorkflowExecutionStatus.RUNNING:
        return await _watch(handle, sys.stdout)
    if status == WorkflowExecutionStatus.RUNNING:
        progress = await handle.query(CampaignWorkflow.progress)
        typer.echo(
            progress.model_dump_json() if output == OutputFormat.JSON else _progress_line(progress)
        )
        return ExitCode.OK
    if status != WorkflowExecutionStatus.COMPLETED:
        fail(f"campaign {campaign_id} ended {status.name.lower()}: see the Temporal Web UI")
    result = await handle.result()
    typer.echo(result.model_dump_json() if output == OutputFormat.JSON else _result_line(result))
    return ExitCode.OK


@campaign_app.command()
def status(
    campaign_id: CampaignId,
    watch: Annotated[bool, typer.Option(help="Live progress bar until it ends.")] = False,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.TEXT,
) -> None:
    """Progress of a campaign: counts per outcome, rate and ETA."""
    raise typer.Exit(run_command(_status(campaign_id, watch, output)))


async def _signal(campaign_id: str, signal: str, *arguments: str) -> int:
    settings = load_settings()
    client = await connect_temporal(settings)
    if await campaign_status(client, campaign_id) != WorkflowExecutionStatus.RUNNING:
        fail(f"campaign {campaign_id} is not running", ExitCode.BAD_INPUT)
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    await handle.signal(signal, *arguments)
    typer.echo(f"campaign {campaign_id}: {signal} sent")
    return ExitCode.OK


@campaign_app.command()
def pause(campaign_id: CampaignId) -> None:
    """Start no new batch until `resume` (running batches finish)."""
    raise typer.Exit(run_command(_signal(campaign_id, "pause")))


@campaign_app.command()
def resume(campaign_id: CampaignId) -> None:
    """Go on after `pause`."""
    raise typer.Exit(run_command(_signal(campaign_id, "resume")))


@campaign_app.command()
def cancel(
    campaign_id: CampaignId,
    reason: Annotated[
        str, typer.Option(help="Why; printed in the report.")
    ] = "cancelled by the operator",
) -> None:
    """No new writes; SIMs in flight settle and are reported; the rest is reported cancelled."""
    raise typer.Exit(run_command(_signal(campaign_id, "cancel", reason)))


async def _list() -> int:
    settings = load_settings()
    client = await connect_temporal(settings)
    typer.echo(f"{'ID':<40} {'STATUS':<12} STARTED")
    async for execution in client.list_workflows("WorkflowType = 'Campaign'"):
        campaign_id = execution.id.removeprefix("campaign-")
        started = execution.start_time.strftime("%Y-%m-%d %H:%M:%S") if execution.start_time else ""
        state = execution.status.name.lower() if execution.status else "unknown"
        typer.echo(f"{campaign_id:<40} {state:<12} {started}")
    return ExitCode.OK


@campaign_app.command("list")
def list_campaigns() -> None:
    """Every campaign, newest first."""
    raise typer.Exit(run_command(_list()))


@campaign_app.command()
def report(
    campaign_id: CampaignId,
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """One row per input row, exactly once: outcome, code, before and after, attempts, times."""
    if format not in ("csv", "json"):
        fail(f"--format must be csv or json, not {format!r}", ExitCode.BAD_INPUT)
    settings = load_settings()
    try:
        store = CampaignStore.open(settings.campaign_dir, campaign_id)
    except CampaignNotFoundError:
        fail(f"no campaign {campaign_id} in {settings.campaign_dir}", ExitCode.BAD_INPUT)
    try:
        if output is None:
            write_report(store.report_rows(), sys.stdout, format)
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                write_report(store.report_rows(), out, format)
        counts = store.counts()
    finally:
        store.close()
    summary = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()) if count)
    typer.echo(f"{sum(counts.values())} rows: {summary}", err=True)
