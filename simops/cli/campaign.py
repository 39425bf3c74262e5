"""`simops campaign …`: start, watch, steer and report bulk changes.

What `simops migrate` shares with it (status, signals, list, report, dry run, start) is in
`simops.cli.campaign_commands`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from simops.campaigns.schedule import CampaignSchedule
from simops.campaigns.spec import (
    CONTINUOUS_ACTIONS,
    MIGRATION_ACTIONS,
    MIN_SCAN_EVERY_SECONDS,
    CampaignAction,
    CampaignSource,
    CampaignSpec,
    Continuous,
)
from simops.cli.campaign_commands import (
    CanaryOption,
    CommandGroup,
    ConcurrencyOption,
    EndAtOption,
    FromFileOption,
    MaxFailuresOption,
    MinEndedOption,
    PlanOutput,
    PlanOutputOption,
    RampOption,
    RateOption,
    ShowAllOption,
    StartAtOption,
    TimezoneOption,
    WatchOption,
    WeightOption,
    WindowOption,
    add_control_commands,
    checked_spec,
    default_campaign_id,
    dry_run_or_start,
    parse_max_failures,
    parse_ramp,
    parse_schedule,
)
from simops.cli.notify import NotifyOption, with_notify
from simops.cli.support import ExitCode, fail, load_settings
from simops.core.sim import SimStatus

GROUP = CommandGroup(noun="campaign", command="simops campaign")

campaign_app = typer.Typer(
    help="Bulk changes: converge thousands of SIMs with pacing, controls and a report.",
    no_args_is_help=True,
)
TARGET_FLEET_ACTIONS = (CampaignAction.ACTIVATE, CampaignAction.READY, CampaignAction.SET_FLEET)
DEFAULT_EVERY = "5m"
SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600}


def parse_every(text: str) -> float:
    """`--every 30s`, `5m`, `1h` (a bare number is seconds): the pause between a continuous
    campaign's scans, in seconds; at least `MIN_SCAN_EVERY_SECONDS`, else one line (exit 2)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text.lower())
    if match is None:
        fail(f"--every takes a duration such as 30s, 5m or 1h, not {text!r}", ExitCode.BAD_INPUT)
    seconds = float(match[1]) * SECONDS_PER_UNIT[match[2] or "s"]
    if seconds < MIN_SCAN_EVERY_SECONDS:
        fail(
            f"--every {text}: at least {MIN_SCAN_EVERY_SECONDS:g}s (each scan lists the API)",
            ExitCode.BAD_INPUT,
        )
    return seconds


def continuous_spec(
    *, continuous: bool, every: str | None, action: CampaignAction, from_file: Path | None
) -> Continuous | None:
    """The scans `--continuous [--every D]` ask for (`None` without `--continuous`), or one
    line saying why this campaign cannot be continuous (exit 2)."""
    if not continuous:
        if every is not None:
            fail("--every is how often a --continuous campaign scans", ExitCode.BAD_INPUT)
        return None
    if from_file is not None:
        fail(
            "--continuous lists a filter (--status, --filter-fleet) for new SIMs; "
            "it cannot read --from-file",
            ExitCode.BAD_INPUT,
        )
    if action not in CONTINUOUS_ACTIONS:
        allowed = ", ".join(sorted(each.value for each in CONTINUOUS_ACTIONS))
        fail(
            f"--continuous takes --action {allowed}, not {action.value}",
            ExitCode.BAD_INPUT,
        )
    return Continuous(every_seconds=parse_every(every or DEFAULT_EVERY))


def register(app: typer.Typer) -> None:
    """Add `simops campaign` to the command."""
    app.add_typer(campaign_app, name="campaign")


def build_spec(
    *,
    campaign_id: str,
    action: CampaignAction,
    from_file: Path | None,
    status: SimStatus | None,
    fleet: str | None,
    filter_fleet: str | None,
    rate: float | None,
    weight: float = 1.0,
    concurrency: int,
    max_failures: str | None,
    canary: int,
    min_ended: int = 100,
    ramp: str | None = None,
    schedule: CampaignSchedule | None = None,
    continuous: bool = False,
    every: str | None = None,
) -> CampaignSpec:
    """The campaign's spec from the command line, or a one-line error (exit 2)."""
    if action in MIGRATION_ACTIONS:
        fail(
            f"--action {action.value}: account migrations are `simops migrate`", ExitCode.BAD_INPUT
        )
    scans = continuous_spec(continuous=continuous, every=every, action=action, from_file=from_file)
    if from_file is not None:
        if status is not None or filter_fleet is not None:
            fail(
                "--from-file cannot be combined with --status or --filter-fleet",
                ExitCode.BAD_INPUT,
            )
        if not from_file.is_file():
            fail(f"{from_file}: no such file", ExitCode.BAD_INPUT)
        # With a file, --fleet is the Fleet to assign (a row's fleet column wins): it is never
        # a filter, the file says which SIMs.
        target_fleet = fleet
    elif action in TARGET_FLEET_ACTIONS:
        target_fleet = fleet
        if action == CampaignAction.SET_FLEET and fleet is None:
            fail("--action set-fleet needs --fleet (the Fleet to assign)", ExitCode.BAD_INPUT)
    else:
        # An action that assigns no Fleet reads --fleet as a filter, like --filter-fleet.
        target_fleet = None
        filter_fleet = filter_fleet or fleet
    if from_file is None and status is None and filter_fleet is None:
        fail(
            "give either --from-file FILE or a filter (--status, --filter-fleet)",
            ExitCode.BAD_INPUT,
        )
    most, ratio = parse_max_failures(max_failures)
    # Every campaign action is one write per SIM: no ramp unless asked.
    ramp_spec = parse_ramp(ramp, default=None)
    return checked_spec(
        GROUP,
        lambda: CampaignSpec(
            campaign_id=campaign_id,
            action=action,
            source=CampaignSource(
                file_name=from_file.name if from_file is not None else None,
                status=status if from_file is None else None,
                fleet=filter_fleet if from_file is None else None,
            ),
            fleet=target_fleet,
            rate=rate,
            weight=weight,
            concurrency=concurrency,
            max_failures=most,
            max_failure_ratio=ratio,
            min_ended_for_ratio=min_ended,
            canary=canary,
            ramp=ramp_spec,
            schedule=schedule,
            continuous=scans,
        ),
    )


@campaign_app.command()
def start(
    action: Annotated[CampaignAction, typer.Option(help="What to do to every SIM.")],
    from_file: FromFileOption = None,
    status: Annotated[
        SimStatus | None, typer.Option(help="Filter: every SIM with this status.")
    ] = None,
    fleet: Annotated[
        str | None,
        typer.Option(
            help="Fleet to assign: with --from-file for every action (a row's fleet column "
            "wins), with a filter for activate, ready and set-fleet; otherwise a filter."
        ),
    ] = None,
    filter_fleet: Annotated[
        str | None, typer.Option(help="Filter: SIMs of this Fleet (any action).")
    ] = None,
    rate: RateOption = None,
    weight: WeightOption = 1.0,
    concurrency: ConcurrencyOption = 200,
    max_failures: MaxFailuresOption = None,
    min_ended: MinEndedOption = 100,
    canary: CanaryOption = 0,
    ramp: RampOption = None,
    start_at: StartAtOption = None,
    end_at: EndAtOption = None,
    window: WindowOption = None,
    timezone: TimezoneOption = None,
    campaign_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="Campaign ID; an ID in use attaches with the same spec, is refused with another.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Check every row, print the plan, write nothing.")
    ] = False,
    watch: WatchOption = False,
    show_all: ShowAllOption = False,
    output: PlanOutputOption = PlanOutput.TEXT,
    notify: NotifyOption = None,
    continuous: Annotated[
        bool,
        typer.Option(
            "--continuous",
            help="Never run out of rows: scan the filter again every --every and converge the "
            "SIMs that newly match, until cancelled or --end-at (activate, ready, set-fleet).",
        ),
    ] = False,
    every: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help=f"With --continuous: the pause between scans, e.g. 30s, 5m, 1h (default "
            f"{DEFAULT_EVERY}, at least {MIN_SCAN_EVERY_SECONDS:g}s).",
        ),
    ] = None,
) -> None:
    """Start a campaign over a file of SIMs or an API filter."""
    settings = load_settings()
    spec = build_spec(
        campaign_id=campaign_id or default_campaign_id(action.value),
        action=action,
        from_file=from_file,
        status=status,
        fleet=fleet,
        filter_fleet=filter_fleet,
        rate=rate,
        weight=weight,
        concurrency=concurrency,
        max_failures=max_failures,
        canary=canary,
        min_ended=min_ended,
        ramp=ramp,
        schedule=parse_schedule(
            start_at=start_at, end_at=end_at, windows=window, timezone=timezone
        ),
        continuous=continuous,
        every=every,
    )
    dry_run_or_start(
        GROUP,
        settings,
        with_notify(settings, spec, notify),
        from_file,
        dry_run=dry_run,
        watch=watch,
        show_all=show_all,
        output=output,
    )


add_control_commands(
    campaign_app,
    GROUP,
    report_help="One row per input row, exactly once: outcome, code, before and after, "
    "attempts, times.",
)
