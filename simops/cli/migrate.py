"""`simops migrate …`: move SIMs between the parent and its child accounts, and undo it.

A migration is a campaign (`move`) whose per-SIM path depends on the SIM's status; a rollback
is a campaign (`rollback`) over the rows of a migration. Both run, pause, resume, cancel and
report as campaigns do (`simops.cli.campaign_commands`), under the same IDs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import WorkflowExecutionStatus

from simops.campaigns.schedule import CampaignSchedule
from simops.campaigns.spec import (
    MIGRATION_ACTIONS,
    CampaignAction,
    CampaignSource,
    CampaignSpec,
    MigrationSpec,
    Ramp,
)
from simops.cli.campaign_commands import (
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
    open_store,
    parse_max_failures,
    parse_ramp,
    parse_schedule,
    print_plan,
    start_and_watch,
)
from simops.cli.notify import NotifyOption, with_notify
from simops.cli.support import (
    ExitCode,
    connect_temporal,
    fail,
    load_settings,
    run_command,
)
from simops.clients.campaigns import campaign_status
from simops.core.sim import NO_FLEET, SimStatus, is_sid
from simops.core.wording import with_article
from simops.runtime.settings import SimopsSettings

GROUP = CommandGroup(noun="migration", command="simops migrate", actions=MIGRATION_ACTIONS)
DEFAULT_MULTI_WRITE_CANARY = 10
"""SIMs that go the whole way before any other is touched when each SIM needs several writes."""
DEFAULT_MULTI_WRITE_RAMP = Ramp(base=20, factor=2.0)
"""After the canary, a path of several writes ramps up: 20 SIMs, then 40, 80… as they converge."""

migrate_app = typer.Typer(
    help="Account migrations: move SIMs between the parent and its child accounts, "
    "verifiably and reversibly.",
    no_args_is_help=True,
)
MigrationId = Annotated[str, typer.Argument(help="The migration's ID (--id at start).")]


def register(app: typer.Typer) -> None:
    """Add `simops migrate` to the command."""
    app.add_typer(migrate_app, name="migrate")


def parse_fleet_map(entries: list[str]) -> dict[str, str]:
    """`OLD=NEW` pairs (SIDs or unique names; `OLD=` for no Fleet), or one line (exit 2)."""
    fleet_map: dict[str, str] = {}
    for entry in entries:
        old, separator, new = (part.strip() for part in entry.partition("="))
        if not separator or not old:
            fail(
                f"--fleet-map takes OLD=NEW (OLD= for no Fleet), not {entry!r}", ExitCode.BAD_INPUT
            )
        if fleet_map.get(old, new) != new:
            fail(
                f"--fleet-map maps {old} twice: to {fleet_map[old]!r} and {new!r}",
                ExitCode.BAD_INPUT,
            )
        fleet_map[old] = new or NO_FLEET
    return fleet_map


def _check_account(option: str, account_sid: str | None) -> None:
    if account_sid is not None and not is_sid(account_sid, "AC"):
        fail(f"{option} takes an Account SID (AC + 32 hex digits)", ExitCode.BAD_INPUT)


def build_migration_spec(
    *,
    campaign_id: str,
    to_account: str,
    from_file: Path | None,
    from_account: str | None,
    status: SimStatus | None = None,
    fleet: str | None = None,
    fleet_map: list[str] | None = None,
    default_fleet: str | None = None,
    no_fleet: bool = False,
    allow_inactive_move: bool = False,
    deactivate_first: bool = False,
    reactivate: bool = False,
    rate: float | None = None,
    weight: float = 1.0,
    concurrency: int = 200,
    max_failures: str | None = None,
    min_ended: int = 100,
    canary: int | None = None,
    compensate: bool = True,
    ramp: str | None = None,
    schedule: CampaignSchedule | None = None,
) -> CampaignSpec:
    """The migration's spec from the command line, or a one-line error (exit 2).

    A path of several writes (`deactivate_first`) starts with a canary of
    `DEFAULT_MULTI_WRITE_CANARY` SIMs unless `canary` says otherwise (0: none).
    """
    _check_account("--to-account", to_account)
    _check_account("--from-account", from_account)
    if (from_file is None) == (from_account is None):
        fail("give either --from-file FILE or --from-account AC…", ExitCode.BAD_INPUT)
    if from_file is not None and (status is not None or fleet is not None):
        fail(
            "--status and --fleet filter --from-account, not a file (the Fleet SIMs get in the "
            "destination is --fleet-map OLD=NEW or --default-fleet)",
            ExitCode.BAD_INPUT,
        )
    if from_file is not None and not from_file.is_file():
        fail(f"{from_file}: no such file", ExitCode.BAD_INPUT)
    if from_account == to_account:
        fail("--from-account and --to-account are the same account", ExitCode.BAD_INPUT)
    if default_fleet is not None and no_fleet:
        fail("give --default-fleet or --no-fleet, not both", ExitCode.BAD_INPUT)
    if reactivate and not deactivate_first:
        fail("--reactivate applies to SIMs --deactivate-first deactivated", ExitCode.BAD_INPUT)
    most, ratio = parse_max_failures(max_failures)
    ramp_spec = parse_ramp(ramp, default=DEFAULT_MULTI_WRITE_RAMP if deactivate_first else None)
    migration_fleets = parse_fleet_map(fleet_map or [])
    source = CampaignSource(
        file_name=from_file.name if from_file is not None else None,
        account_sid=from_account,
        status=status,
        fleet=fleet,
    )
    return checked_spec(
        GROUP,
        lambda: CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.MOVE,
            source=source,
            rate=rate,
            weight=weight,
            concurrency=concurrency,
            max_failures=most,
            max_failure_ratio=ratio,
            min_ended_for_ratio=min_ended,
            canary=(DEFAULT_MULTI_WRITE_CANARY if deactivate_first else 0)
            if canary is None
            else canary,
            compensate=compensate,
            ramp=ramp_spec,
            schedule=schedule,
            migration=MigrationSpec(
                to_account=to_account,
                fleet_map=migration_fleets,
                default_fleet=default_fleet,
                no_fleet=no_fleet,
                allow_inactive_move=allow_inactive_move,
                deactivate_first=deactivate_first,
                reactivate=reactivate,
            ),
        ),
    )


def build_rollback_spec(
    *,
    campaign_id: str,
    migration_id: str,
    rate: float | None = None,
    weight: float = 1.0,
    concurrency: int = 200,
    max_failures: str | None = None,
) -> CampaignSpec:
    """The spec of the rollback of `migration_id`, or a one-line error (exit 2)."""
    most, ratio = parse_max_failures(max_failures)
    return checked_spec(
        GROUP,
        lambda: CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.ROLLBACK,
            source=CampaignSource(rollback_of=migration_id),
            rate=rate,
            weight=weight,
            concurrency=concurrency,
            max_failures=most,
            max_failure_ratio=ratio,
        ),
    )


@migrate_app.command("start")
def start_migration(
    to_account: Annotated[
        str, typer.Option(help="The account the SIMs move to: the parent or one of its children.")
    ],
    from_file: FromFileOption = None,
    from_account: Annotated[
        str | None, typer.Option(help="Every SIM of this account (filtered by --status, --fleet).")
    ] = None,
    status: Annotated[
        SimStatus | None, typer.Option(help="With --from-account: SIMs with this status.")
    ] = None,
    fleet: Annotated[
        str | None, typer.Option(help="With --from-account: SIMs of this Fleet of that account.")
    ] = None,
    fleet_map: Annotated[
        list[str] | None,
        typer.Option(
            help="OLD=NEW: SIMs of Fleet OLD get Fleet NEW of the destination (OLD= for none). "
            "Repeat for each Fleet."
        ),
    ] = None,
    default_fleet: Annotated[
        str | None, typer.Option(help="Destination Fleet of SIMs whose Fleet has no mapping.")
    ] = None,
    no_fleet: Annotated[
        bool,
        typer.Option("--no-fleet", help="SIMs whose Fleet has no mapping move without a Fleet."),
    ] = False,
    allow_inactive_move: Annotated[
        bool,
        typer.Option(
            "--allow-inactive-move", help="Move inactive SIMs (the account's private beta)."
        ),
    ] = False,
    deactivate_first: Annotated[
        bool,
        typer.Option(
            "--deactivate-first",
            help="Deactivate ready and active SIMs, then move them (needs the private beta).",
        ),
    ] = False,
    reactivate: Annotated[
        bool,
        typer.Option(
            "--reactivate", help="Reactivate the SIMs --deactivate-first deactivated, once moved."
        ),
    ] = False,
    rate: RateOption = None,
    weight: WeightOption = 1.0,
    concurrency: ConcurrencyOption = 200,
    max_failures: MaxFailuresOption = None,
    min_ended: MinEndedOption = 100,
    canary: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Converge this many SIMs first and go on only if none failed "
            f"(default {DEFAULT_MULTI_WRITE_CANARY} with --deactivate-first, else 0).",
        ),
    ] = None,
    ramp: RampOption = None,
    compensate: Annotated[
        bool,
        typer.Option(
            "--compensate/--no-compensate",
            help="Reactivate a SIM this migration deactivated when its move or reactivation "
            "fails (default), or leave it inactive.",
        ),
    ] = True,
    start_at: StartAtOption = None,
    end_at: EndAtOption = None,
    window: WindowOption = None,
    timezone: TimezoneOption = None,
    campaign_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="Migration ID; an ID in use attaches with the same spec, is refused with another.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check accounts, Fleet map and every SIM's path, print the plan, write nothing.",
        ),
    ] = False,
    watch: WatchOption = False,
    show_all: ShowAllOption = False,
    output: PlanOutputOption = PlanOutput.TEXT,
    notify: NotifyOption = None,
) -> None:
    """Move SIMs of a file or of one account to another account."""
    settings = load_settings()
    spec = build_migration_spec(
        campaign_id=campaign_id or default_campaign_id("migrate"),
        to_account=to_account,
        from_file=from_file,
        from_account=from_account,
        status=status,
        fleet=fleet,
        fleet_map=fleet_map,
        default_fleet=default_fleet,
        no_fleet=no_fleet,
        allow_inactive_move=allow_inactive_move,
        deactivate_first=deactivate_first,
        reactivate=reactivate,
        rate=rate,
        weight=weight,
        concurrency=concurrency,
        max_failures=max_failures,
        min_ended=min_ended,
        canary=canary,
        compensate=compensate,
        ramp=ramp,
        schedule=parse_schedule(
            start_at=start_at, end_at=end_at, windows=window, timezone=timezone
        ),
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


async def _start_rollback(settings: SimopsSettings, spec: CampaignSpec, watch: bool) -> int:
    migration_id = spec.source.rollback_of or ""
    client = await connect_temporal(settings)
    if await campaign_status(client, migration_id) == WorkflowExecutionStatus.RUNNING:
        fail(
            f"migration {migration_id} is still running: cancel it (simops migrate cancel "
            f"{migration_id}) and let it settle before rolling it back",
            ExitCode.BAD_INPUT,
        )
    return await start_and_watch(GROUP, settings, spec, None, watch)


@migrate_app.command()
def rollback(
    migration_id: MigrationId,
    campaign_id: Annotated[
        str | None, typer.Option("--id", help="The rollback's ID (default: ID-rollback).")
    ] = None,
    rate: RateOption = None,
    weight: WeightOption = 1.0,
    concurrency: ConcurrencyOption = 200,
    max_failures: MaxFailuresOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check what can be restored, print the plan, write nothing."
        ),
    ] = False,
    watch: WatchOption = False,
    show_all: ShowAllOption = False,
    output: PlanOutputOption = PlanOutput.TEXT,
) -> None:
    """Move back every SIM the migration changed, restoring account, Fleet and status."""
    settings = load_settings()
    with open_store(GROUP, settings, migration_id) as original:
        if original.spec.action not in MIGRATION_ACTIONS:
            fail(
                f"{migration_id} is {with_article(original.spec.action.value)} campaign, "
                "not a migration",
                ExitCode.BAD_INPUT,
            )
    spec = build_rollback_spec(
        campaign_id=campaign_id or f"{migration_id}-rollback",
        migration_id=migration_id,
        rate=rate,
        weight=weight,
        concurrency=concurrency,
        max_failures=max_failures,
    )
    if dry_run:
        raise typer.Exit(run_command(print_plan(settings, spec, None, show_all, output)))
    raise typer.Exit(run_command(_start_rollback(settings, spec, watch)))


add_control_commands(
    migrate_app,
    GROUP,
    report_help="Every row once: outcome, code, before and after (account, Fleet, status), "
    "billing period.",
)
