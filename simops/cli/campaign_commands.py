"""What `simops campaign` and `simops migrate` share: dry run, start, watch, status, signals,
list and report of a campaign (a migration is a campaign, under the same workflow ID).

Each function takes the `CommandGroup` it serves, which names the campaigns in messages and
says which ones `list` shows; the commands themselves stay in each group's module.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from simops.campaigns.preparer import prepare_for_dry_run
from simops.campaigns.reports import (
    describe_canary,
    describe_out_of_service,
    out_of_service_summary,
    plan_row_line,
    render_plan,
    summarize,
    write_plan_csv,
    write_report,
)
from simops.campaigns.rows import ReportRow
from simops.campaigns.schedule import CampaignSchedule, ScheduleError, describe_schedule
from simops.campaigns.sources import CampaignFile, FileSourceError, SourceError
from simops.campaigns.spec import (
    MIGRATION_ACTIONS,
    CampaignAction,
    CampaignSource,
    CampaignSpec,
    Ramp,
)
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignNotFoundError, CampaignStoreError
from simops.cli.support import (
    ExitCode,
    OutputFormat,
    connect_temporal,
    fail,
    load_settings,
    run_command,
)
from simops.clients.campaigns import (
    CampaignAlreadyStartedError,
    CampaignControl,
    CampaignHandle,
    CampaignNotRunningError,
    CampaignSpecConflictError,
    campaign_handle,
    campaign_progress,
    campaign_status,
    control_campaign,
    listed_campaigns,
    running_progress,
    start_campaign,
    workflow_status,
)
from simops.clients.notifications import with_deliveries
from simops.clients.retries import (
    NothingToRetryError,
    RetriedCampaignRunningError,
    RetryIdInUseError,
    retry_spec,
)
from simops.core.wording import with_article
from simops.messages import CampaignProgress, ScanProgress
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import mask_iccids

WATCH_INTERVAL_SECONDS = 1.0

RateOption = Annotated[
    float | None,
    typer.Option(help="At most this many requests/s for the whole campaign, across every worker."),
]
WeightOption = Annotated[
    float,
    typer.Option(
        min=0.001,
        max=1000,
        help="Share of the account's API budget, in proportion to the weights of the account's "
        "other running campaigns.",
    ),
]
ConcurrencyOption = Annotated[
    int,
    typer.Option(help="Requests in flight at once for the whole campaign, across every worker."),
]
MaxFailuresOption = Annotated[
    str | None,
    typer.Option(
        help="Stop new writes after N failures, or once P% of the SIMs that ended failed "
        "(judged after --min-ended SIMs ended, or P% of all rows failed)."
    ),
]
MinEndedOption = Annotated[
    int,
    typer.Option(min=1, help="SIMs that must end before a --max-failures P% is judged."),
]
CanaryOption = Annotated[
    int, typer.Option(help="Converge this many SIMs first; go on only if none failed.")
]
RampOption = Annotated[
    str | None,
    typer.Option(
        help="BASE[,FACTOR] or off: at most BASE SIMs started and not ended; each time BASE "
        "converged, BASE times FACTOR (default 2), up to --concurrency. Default: 20,2 for "
        "paths of several writes (after the canary), off otherwise."
    ),
]
WatchOption = Annotated[bool, typer.Option(help="Follow progress after starting.")]
FromFileOption = Annotated[
    Path | None, typer.Option(help="CSV with a header, or one SIM per line.")
]
ShowAllOption = Annotated[
    bool, typer.Option("--show-all", help="With --dry-run: after the summary, every row's plan.")
]
StartAtOption = Annotated[
    str | None,
    typer.Option(
        metavar="TIME",
        help="No first write before this time (ISO 8601 with an offset, e.g. "
        "2026-12-08T01:00:00+01:00).",
    ),
]
EndAtOption = Annotated[
    str | None,
    typer.Option(
        metavar="TIME",
        help="No first write from this time (ISO 8601 with an offset); the rows not started "
        "then end cancelled.",
    ),
]
WindowOption = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        metavar="WINDOW",
        help="First writes only inside this weekly window, e.g. 'Mon-Fri 01:00-05:00' or "
        "'22:00-02:00' (every day, into the next); repeat for more. SIMs on their path finish it.",
    ),
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(metavar="ZONE", help="IANA time zone of the --window times (default UTC)."),
]
SCHEDULE_OPTIONS = {
    "start_at": "--start-at",
    "end_at": "--end-at",
    "windows": "--window",
    "timezone": "--timezone",
}
"""The option that gives each field of a `CampaignSchedule`, to name it in an error."""


class PlanOutput(StrEnum):
    """How the dry run prints its plan."""

    TEXT = "text"
    CSV = "csv"


PlanOutputOption = Annotated[
    PlanOutput,
    typer.Option(
        "--output", "-o", help="With --dry-run: text, or csv (every row; the summary on stderr)."
    ),
]
OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o")]
ReportFormatOption = Annotated[str, typer.Option("--format", help="csv or json.")]
ReportOutputOption = Annotated[Path | None, typer.Option(help="Write here instead of stdout.")]


@dataclass(frozen=True)
class CommandGroup:
    """A group of commands over campaigns: what it calls them, and which ones it lists."""

    noun: str
    command: str
    actions: frozenset[CampaignAction] | None = None


def default_campaign_id(prefix: str) -> str:
    """An ID for a campaign started without `--id`: the prefix and the UTC time, to the second."""
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


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


def parse_ramp(text: str | None, *, default: Ramp | None) -> Ramp | None:
    """`--ramp 20,2` (base and factor), `--ramp 20` (factor 2), `--ramp off`; `default` when
    not given."""
    if text is None:
        return default
    if text.strip().lower() == "off":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:,\s*(\d+(?:\.\d+)?)\s*)?", text)
    if match is None:
        fail(f"--ramp takes BASE[,FACTOR] (e.g. 20,2) or off, not {text!r}", ExitCode.BAD_INPUT)
    base, factor = int(match[1]), float(match[2] or 2)
    if base < 1 or factor < 1:
        fail(
            f"--ramp {text}: BASE is at least 1 and FACTOR at least 1 (1 keeps BASE)",
            ExitCode.BAD_INPUT,
        )
    return Ramp(base=base, factor=factor)


def parse_schedule(
    *,
    start_at: str | None,
    end_at: str | None,
    windows: list[str] | None,
    timezone: str | None,
    now: datetime | None = None,
) -> CampaignSchedule | None:
    """The schedule `--start-at`, `--end-at`, `--window` and `--timezone` give (`None`
    without any), or one line naming the option at fault (exit 2).

    An end already past at `now` (default: the clock's), or one no window opens before, is
    refused: the campaign would write nothing.
    """
    if start_at is None and end_at is None and not windows and timezone is None:
        return None
    if timezone is not None and not windows:
        fail(
            "--timezone is the time zone of --window's times; --start-at and --end-at carry "
            "their own offset",
            ExitCode.BAD_INPUT,
        )
    try:
        schedule = CampaignSchedule(
            start_at=_instant("--start-at", start_at),
            end_at=_instant("--end-at", end_at),
            windows=windows or [],
            timezone=timezone or "UTC",
        )
    except ValidationError as error:
        fail(
            "; ".join(_schedule_problem(issue) for issue in error.errors()),
            ExitCode.BAD_INPUT,
        )
    now = now or datetime.now(UTC)
    if schedule.ended(now):
        fail(f"--end-at {end_at} has already passed", ExitCode.BAD_INPUT)
    if schedule.next_open_at(now) is None:
        fail(
            f"--end-at {end_at} comes before any --window opens: the campaign would write nothing",
            ExitCode.BAD_INPUT,
        )
    return schedule


def _instant(option: str, text: str | None) -> datetime | None:
    """`text` as an aware time, or one line saying what it lacks (exit 2)."""
    if text is None:
        return None
    example = "2026-12-08T01:00:00+01:00 (Z for UTC)"
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"{option} {text!r} is not an ISO 8601 time: give one such as {example}",
            ExitCode.BAD_INPUT,
        )
    if instant.utcoffset() is None:
        fail(f"{option} {text!r} has no UTC offset: add one, as in {example}", ExitCode.BAD_INPUT)
    return instant


def _schedule_problem(issue: ErrorDetails) -> str:
    """The option at fault and its problem, as the schedule put it (without pydantic's
    `Value error,` prefix)."""
    error = issue.get("ctx", {}).get("error")
    problem = str(error) if isinstance(error, ScheduleError) else issue["msg"]
    return f"{SCHEDULE_OPTIONS[str(issue['loc'][0])]} {problem}"


def checked_spec(group: CommandGroup, build: Callable[[], CampaignSpec]) -> CampaignSpec:
    """The spec `build` makes, or one line naming what is wrong with it (exit 2)."""
    try:
        return build()
    except ValidationError as error:
        invalid_spec(group, error)


def invalid_spec(group: CommandGroup, error: ValidationError) -> NoReturn:
    """One line naming each field of a spec that is wrong, and why (exit 2)."""
    problem = "; ".join(
        f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
        for issue in error.errors()
    )
    fail(f"invalid {group.noun}: {problem}", ExitCode.BAD_INPUT)


async def print_plan(
    settings: SimopsSettings,
    spec: CampaignSpec,
    from_file: Path | None,
    show_all: bool = False,
    output: PlanOutput = PlanOutput.TEXT,
) -> int:
    """Prepare the campaign in a scratch store (reads only) and print its plan: rows per
    planned change and per invalid reason; with `show_all`, then every row; as CSV, every row
    on stdout and the summary on stderr.

    Rows are streamed from the scratch store, never held: a dry run of a million rows takes
    the memory of a thousand.
    """
    with tempfile.TemporaryDirectory(prefix="simops-dry-run-") as scratch:
        try:
            store = CampaignStore.create(Path(scratch), spec, from_file)
            try:
                async with SuperSimClient.from_settings(settings) as api:
                    plan = await prepare_for_dry_run(api, settings, store)
                as_csv = output is PlanOutput.CSV
                if as_csv:
                    write_plan_csv(store.preparation.plan_rows(), sys.stdout)
                typer.echo(render_plan(plan), err=as_csv)
                if spec.schedule is not None:
                    for line in describe_schedule(spec.schedule, datetime.now(UTC)):
                        typer.echo(line, err=as_csv)
                if spec.continuous is not None:
                    typer.echo(
                        f"continuous: these rows first, then the filter listed again every "
                        f"{spec.continuous.every_seconds:g} s, until cancelled or --end-at",
                        err=as_csv,
                    )
                if show_all and not as_csv:
                    typer.echo("every row:")
                    for row in store.preparation.plan_rows():
                        typer.echo(f"  {plan_row_line(row)}")
            finally:
                store.close()
        except FileSourceError as error:
            # The scratch store reads a copy: name the file the user gave.
            fail(error.about(from_file) if from_file else str(error), ExitCode.BAD_INPUT)
        except (SourceError, CampaignStoreError) as error:
            fail(str(error), ExitCode.BAD_INPUT)
    return ExitCode.OK


async def start_and_watch(
    group: CommandGroup,
    settings: SimopsSettings,
    spec: CampaignSpec,
    from_file: Path | None,
    watch: bool,
) -> int:
    """Start the campaign and, with `watch`, follow it to its end.

    An ID already started with the same spec is attached to (its status, followed with
    `watch`); with another spec it is refused (exit 2), naming each field that differs.
    """
    if from_file is not None:
        # What makes a file unreadable fails here, naming the user's file, rather than in the
        # worker's preparation of the campaign store's copy of it.
        try:
            CampaignFile.open(from_file)
        except SourceError as error:
            fail(str(error), ExitCode.BAD_INPUT)
    client = await connect_temporal(settings)
    try:
        handle = await start_campaign(client, settings, spec, from_file)
    except CampaignSpecConflictError as conflict:
        fail(str(conflict), ExitCode.BAD_INPUT)
    except CampaignStoreError as error:
        fail(str(error), ExitCode.BAD_INPUT)
    except CampaignAlreadyStartedError as already:
        typer.echo(str(already))
        return await follow_campaign(
            group, settings, client, spec.campaign_id, watch, OutputFormat.TEXT
        )
    typer.echo(f"started {group.noun} {spec.campaign_id} ({spec.action.value})")
    if not watch:
        typer.echo(f"follow it with: {group.command} status {spec.campaign_id} --watch")
        return ExitCode.OK
    return await watch_campaign(group, settings, handle, sys.stdout)


def dry_run_or_start(
    group: CommandGroup,
    settings: SimopsSettings,
    spec: CampaignSpec,
    from_file: Path | None,
    *,
    dry_run: bool,
    watch: bool,
    show_all: bool,
    output: PlanOutput,
) -> NoReturn:
    """What `start` of a campaign or a migration does with the spec it built: print the plan
    (`dry_run`), or start it (and follow it with `watch`); exits with the command's code."""
    if dry_run:
        raise typer.Exit(run_command(print_plan(settings, spec, from_file, show_all, output)))
    raise typer.Exit(run_command(start_and_watch(group, settings, spec, from_file, watch)))


def progress_line(group: CommandGroup, progress: CampaignProgress) -> str:
    """One line of a campaign's progress, running or ended (the same fields in every phase):
    `campaign c1: completed; 1,002 rows: 1,000 converged, 2 failed`, with the rate and the time
    left while it runs, and how long SIMs were out of service once a migration ended."""
    rate = f", {progress.rows_per_second:,.0f} rows/s" if progress.rows_per_second else ""
    eta = f", ETA {progress.eta_seconds:,.0f} s" if progress.eta_seconds else ""
    reason = f" ({progress.stop_reason})" if progress.stop_reason else ""
    retried = f" (retry of {progress.retry_of})" if progress.retry_of else ""
    downtime = (
        f"; {describe_out_of_service(progress.out_of_service)}"
        if progress.action in MIGRATION_ACTIONS and progress.finished_at is not None
        else ""
    )
    counts = summarize(progress.counts) if progress.counts else "nothing yet"
    canary = f"; {describe_canary(progress.canary)}" if progress.canary is not None else ""
    queued = (
        f" behind {progress.queued_behind} queued" if progress.queued_behind is not None else ""
    )
    scans = f"; {describe_scans(progress.continuous)}" if progress.continuous else ""
    share = (
        f"; API share {progress.share.rate:,.1f} requests/s (weight {progress.share.weight:g})"
        if progress.share is not None
        else ""
    )
    return (
        f"{group.noun} {progress.campaign_id}{retried}: {progress.phase.value}{queued}{reason}"
        f"{rate}{eta}; {counts}{canary}{scans}{share}{downtime}"
    )


def describe_scans(scans: ScanProgress) -> str:
    """A continuous campaign's scans in words: `continuous every 300 s: 3 scans, 12 rows
    added, next scan at 2026-12-08 01:05:00 UTC`."""
    plural = "" if scans.scans == 1 else "s"
    text = (
        f"continuous every {scans.every_seconds:g} s: {scans.scans} scan{plural}, "
        f"{scans.rows_added:,} rows added"
    )
    if scans.next_scan_at is not None:
        text += f", next scan at {scans.next_scan_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return text


async def watch_campaign(
    group: CommandGroup, settings: SimopsSettings, handle: CampaignHandle, out: TextIO
) -> int:
    """A live progress bar, moving as SIMs end, until the campaign ends; then its last line."""
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
        task = bar.add_task(group.noun, total=None, detail="")
        ended = asyncio.ensure_future(campaign_ended(handle))
        try:
            progress = await follow_bar(settings, handle, bar, task, ended)
        finally:
            ended.cancel()
    typer.echo(progress_line(group, progress))
    return ExitCode.OK


async def follow_bar(
    settings: SimopsSettings,
    handle: CampaignHandle,
    bar: Progress,
    task: TaskID,
    ended: asyncio.Future[None],
) -> CampaignProgress:
    """Move `bar` with the campaign's progress until the campaign ends; its last progress.

    Between two reads the bar waits `WATCH_INTERVAL_SECONDS`, or less when `ended` (the
    workflow's result, long-polled) says the campaign just ended: the command exits as soon as
    the campaign does, not up to an interval later."""
    while True:
        status = await workflow_status(handle)
        progress = await campaign_progress(settings, handle, status)
        counts = " ".join(f"{kind}={count}" for kind, count in sorted(progress.counts.items()))
        bar.update(
            task,
            # The bar's columns are rich markup; a campaign ID may hold `[`.
            description=f"{escape(progress.campaign_id)} {progress.phase.value}",
            total=progress.total_rows,
            completed=progress.ended_rows,
            detail=escape(counts),
        )
        if status != WorkflowExecutionStatus.RUNNING:
            return progress
        if ended.done():
            # Ended a run that continued as new, or the long poll failed: read at the interval.
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
        else:
            await asyncio.wait({ended}, timeout=WATCH_INTERVAL_SECONDS)


async def campaign_ended(handle: CampaignHandle) -> None:
    """Return when the campaign's workflow has closed, however it closed (or the long poll
    for it failed: the caller then reads the status to know which)."""
    with contextlib.suppress(WorkflowFailureError, RPCError):
        await handle.result()


async def show_status(
    group: CommandGroup, campaign_id: str, watch: bool, output: OutputFormat
) -> int:
    """A campaign's progress, running or ended, as a line or as JSON of one shape."""
    settings = load_settings()
    client = await connect_temporal(settings)
    return await follow_campaign(group, settings, client, campaign_id, watch, output)


async def follow_campaign(
    group: CommandGroup,
    settings: SimopsSettings,
    client: Client,
    campaign_id: str,
    watch: bool,
    output: OutputFormat,
) -> int:
    """Print a campaign's progress, running or ended (with `watch`, follow it to its end)."""
    handle = campaign_handle(client, campaign_id)
    status = await campaign_status(client, campaign_id)
    if status is None:
        fail(f"no {group.noun} {campaign_id}", ExitCode.BAD_INPUT)
    if watch and status == WorkflowExecutionStatus.RUNNING:
        return await watch_campaign(group, settings, handle, sys.stdout)
    if status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        fail(f"{group.noun} {campaign_id} ended {status.name.lower()}: see the Temporal Web UI")
    progress = await campaign_progress(settings, handle, status)
    if output == OutputFormat.JSON:
        progress = await with_deliveries(client, progress)
    line = progress_line(group, progress)
    typer.echo(progress.model_dump_json() if output == OutputFormat.JSON else line)
    return ExitCode.OK


async def send_signal(
    group: CommandGroup, campaign_id: str, control: CampaignControl, reason: str = ""
) -> int:
    """Send `pause`, `resume` or `cancel` (with its `reason`) to a running campaign."""
    settings = load_settings()
    client = await connect_temporal(settings)
    try:
        await control_campaign(client, campaign_id, control, reason)
    except CampaignNotRunningError:
        fail(f"{group.noun} {campaign_id} is not running", ExitCode.BAD_INPUT)
    typer.echo(f"{group.noun} {campaign_id}: {control} sent")
    return ExitCode.OK


async def list_campaigns(group: CommandGroup) -> int:
    """Every campaign of the group, newest first, with its action and state; a running one
    also with its phase (`waiting` for a window, `paused`…) and when its next window opens."""
    settings = load_settings()
    client = await connect_temporal(settings)
    typer.echo(
        f"{'ID':<40} {'ACTION':<12} {'STATUS':<12} {'STARTED':<19} {'PHASE':<10} NEXT WINDOW"
    )
    async for listed in listed_campaigns(client, settings, group.actions):
        started = listed.started_at.strftime("%Y-%m-%d %H:%M:%S") if listed.started_at else ""
        state = listed.status.name.lower() if listed.status else "unknown"
        shown = listed.action.value if listed.action is not None else "?"
        phase, next_window = "", ""
        if listed.status == WorkflowExecutionStatus.RUNNING:
            progress = await running_progress(client, listed.campaign_id)
            if progress is not None:
                phase = progress.phase.value
                if progress.next_window_at is not None:
                    next_window = f"{progress.next_window_at:%Y-%m-%d %H:%M:%S} UTC"
        typer.echo(
            f"{listed.campaign_id:<40} {shown:<12} {state:<12} {started:<19} {phase:<10} "
            f"{next_window}".rstrip()
        )
    return ExitCode.OK


def open_store(group: CommandGroup, settings: SimopsSettings, campaign_id: str) -> CampaignStore:
    """The campaign's store, or one line saying there is none (exit 2)."""
    try:
        return CampaignStore.open(store_backend(settings), campaign_id)
    except CampaignNotFoundError:
        fail(
            f"no {group.noun} {campaign_id} in {store_backend(settings).describe()}",
            ExitCode.BAD_INPUT,
        )
    except CampaignStoreError as error:
        fail(str(error))


def report(group: CommandGroup, campaign_id: str, fmt: str, output: Path | None) -> None:
    """Write the campaign's report (every input row once) and a summary line on stderr."""
    if fmt not in ("csv", "json"):
        fail(f"--format must be csv or json, not {fmt!r}", ExitCode.BAD_INPUT)
    store = open_store(group, load_settings(), campaign_id)
    try:
        if output is None:
            write_report(store.report_rows(), sys.stdout, fmt)
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                write_report(store.report_rows(), out, fmt)
        counts = store.counts()
        migration = store.spec.action in MIGRATION_ACTIONS
        downtime = out_of_service_summary(store.out_of_service_seconds()) if migration else None
    finally:
        store.close()
    typer.echo(summarize(counts), err=True)
    if migration:
        typer.echo(describe_out_of_service(downtime), err=True)


def _check_retried_group(group: CommandGroup, campaign_id: str, action: CampaignAction) -> None:
    """Refuse (exit 2) to retry a migration as a campaign, or a campaign as a migration: each
    group's commands name its own kind of campaign."""
    if group.actions is None and action in MIGRATION_ACTIONS:
        fail(
            f"{campaign_id} is a migration: retry it with `simops migrate retry {campaign_id}`",
            ExitCode.BAD_INPUT,
        )
    if group.actions is not None and action not in group.actions:
        what = f"{with_article(action.value)} campaign, not a {group.noun}"
        fail(
            f"{campaign_id} is {what}: retry it with `simops campaign retry {campaign_id}`",
            ExitCode.BAD_INPUT,
        )


def _nothing_to_retry(group: CommandGroup, campaign_id: str, source: CampaignSource) -> str:
    codes = ", ".join(str(code) for code in source.retry_codes)
    which = f"failed with code {codes}" if codes else "failed"
    if source.retry_cancelled:
        which += " or was cancelled"
    return f"nothing to retry: no row of {group.noun} {campaign_id} {which}"


def retried_row_line(row: ReportRow) -> str:
    """One row of a retry's dry run: its number and line, SIM, outcome, code and message (the
    ICCID masked: the listing goes to terminals and CI logs)."""
    where = f"row {row.row_no}" + (f" (line {row.line_no})" if row.line_no else "")
    sim = f" {row.sim_sid}" if row.sim_sid and row.sim_sid != row.reference else ""
    code = f" [{row.code}]" if row.code is not None else ""
    return mask_iccids(f"  {where} {row.reference}{sim}: {row.outcome}{code} {row.message or ''}")


async def retry_campaign(
    group: CommandGroup,
    campaign_id: str,
    *,
    new_id: str | None,
    only_codes: list[int],
    include_cancelled: bool,
    dry_run: bool,
    watch: bool,
) -> int:
    """Start a new campaign with the spec of `campaign_id` over its rows that ended `failed`
    (those with one of `only_codes`, when given; with `include_cancelled`, `cancelled` rows
    too); with `dry_run`, list those rows and write nothing.

    A campaign that has not ended is refused: its rows may still fail, converge or be written,
    so what failed is not known yet, and a retry could write a SIM the campaign is writing."""
    settings = load_settings()
    with open_store(group, settings, campaign_id) as earlier:
        earlier_spec = earlier.spec
    _check_retried_group(group, campaign_id, earlier_spec.action)
    client = await connect_temporal(settings)
    try:
        spec = await retry_spec(
            client,
            settings,
            earlier_spec,
            new_id=new_id,
            only_codes=only_codes,
            include_cancelled=include_cancelled,
        )
    except RetriedCampaignRunningError:
        fail(
            f"{group.noun} {campaign_id} is still running: what failed is known once it ends "
            f"(wait, or `{group.command} cancel {campaign_id}` and let it settle)",
            ExitCode.BAD_INPUT,
        )
    except RetryIdInUseError as in_use:
        fail(f"--id {in_use.campaign_id} is already used: give another", ExitCode.BAD_INPUT)
    except NothingToRetryError as nothing:
        fail(_nothing_to_retry(group, campaign_id, nothing.source), ExitCode.BAD_INPUT)
    except ValidationError as error:
        invalid_spec(group, error)
    if not dry_run:
        return await start_and_watch(group, settings, spec, None, watch)
    count = 0
    with open_store(group, settings, campaign_id) as earlier:
        # Streamed: the dry run lists every row chosen, however many, without holding them.
        for row in earlier.retried_rows(spec.source):
            if not count:
                typer.echo(
                    f"{group.noun} {spec.campaign_id} would retry these rows of {campaign_id}:"
                )
            typer.echo(retried_row_line(row.report))
            count += 1
    noun = "row" if count == 1 else "rows"
    typer.echo(f"{count:,} {noun} to {spec.action.value}; dry run: nothing was written")
    return ExitCode.OK


IdArgument = Annotated[str, typer.Argument(help="The ID it was started with (--id).")]


def add_control_commands(app: typer.Typer, group: CommandGroup, report_help: str) -> None:
    """`status`, `pause`, `resume`, `cancel`, `list` and `report` of a group, on its app."""
    noun = group.noun

    @app.command(help=f"Progress of a {noun}: counts per outcome, rate and ETA.")
    def status(
        identifier: IdArgument, watch: WatchOption = False, output: OutputOption = OutputFormat.TEXT
    ) -> None:
        raise typer.Exit(run_command(show_status(group, identifier, watch, output)))

    @app.command(help="Start no new batch until `resume` (SIMs in flight finish).")
    def pause(identifier: IdArgument) -> None:
        raise typer.Exit(run_command(send_signal(group, identifier, CampaignControl.PAUSE)))

    @app.command(help="Go on after `pause`.")
    def resume(identifier: IdArgument) -> None:
        raise typer.Exit(run_command(send_signal(group, identifier, CampaignControl.RESUME)))

    @app.command(
        help="No new writes; SIMs in flight settle and are reported; the rest is reported "
        "cancelled."
    )
    def cancel(
        identifier: IdArgument,
        reason: Annotated[
            str, typer.Option(help="Why; printed in the report.")
        ] = "cancelled by the operator",
    ) -> None:
        cancelled = send_signal(group, identifier, CampaignControl.CANCEL, reason)
        raise typer.Exit(run_command(cancelled))

    @app.command("list", help=f"Every {noun}, newest first.")
    def list_all() -> None:
        raise typer.Exit(run_command(list_campaigns(group)))

    @app.command(
        help=f"Start a new {noun} with the same spec over the rows of an ended one that failed "
        "(each keeps its row number and line in the report)."
    )
    def retry(
        identifier: IdArgument,
        new_id: Annotated[
            str | None,
            typer.Option("--id", help="The retry's ID (default: ID-retry-1, then -2, …)."),
        ] = None,
        only_code: Annotated[
            list[int] | None,
            typer.Option(
                "--only-code", help="Only failed rows with this error code; repeat for several."
            ),
        ] = None,
        include_cancelled: Annotated[
            bool, typer.Option("--include-cancelled", help="Rows that ended cancelled too.")
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help="List the rows it would retry; write nothing."),
        ] = False,
        watch: WatchOption = False,
    ) -> None:
        raise typer.Exit(
            run_command(
                retry_campaign(
                    group,
                    identifier,
                    new_id=new_id,
                    only_codes=only_code or [],
                    include_cancelled=include_cancelled,
                    dry_run=dry_run,
                    watch=watch,
                )
            )
        )

    @app.command("report", help=report_help)
    def report_rows(
        identifier: IdArgument,
        fmt: ReportFormatOption = "csv",
        output: ReportOutputOption = None,
    ) -> None:
        report(group, identifier, fmt, output)
