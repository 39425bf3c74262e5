"""Chaos scenarios on the process stack: each breaks something during a campaign and accounts
for every SIM afterwards. `bench/chaos.py` runs them at full size; tests/chaos runs them small.

A scenario breaks things; a workload is the campaign it breaks them under: an activation
(`activation`) or an account migration (`migration`, or `migration_without_beta`, which the API
refuses), each saying what every SIM must look like once converged and how many state-changing
writes its path needs.

Each SIM's outcome is checked against the emulator's per-SIM write log, counted from just before
the campaign starts: a SIM the emulator saw written is never reported `already_converged`, the
report's `writes` is the emulator's count, a SIM reported `converged` was written, and a
migration's rollback would restore every SIM it wrote. Every wait has a deadline (`Deadline`):
a scenario that cannot finish fails with what it was waiting for, it never hangs.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from simops.callbacks.urls import callback_url
from simops.campaigns.migration_preparer import restore_rows
from simops.campaigns.reports import FORMULA_TRIGGERS
from simops.campaigns.rows import CampaignPhase, ReportRow
from simops.campaigns.spec import (
    MIGRATION_ACTIONS,
    CampaignAction,
    CampaignSource,
    CampaignSpec,
    MigrationSpec,
)
from simops.campaigns.store.backends import SqliteStores, StoreBackend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.cli.migrate import build_migration_spec
from simops.clients.campaigns import CampaignHandle, start_campaign
from simops.contract import batch_workflow_id, campaign_id_of, campaign_workflow_id
from simops.core.codes import RuleCode
from simops.core.sim import OutcomeKind, SimStatus
from simops.messages import CampaignResult
from simops.supersim.client import SuperSimClient
from simops.supersim.signatures import kore_signature, twilio_signature
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.machines import start_machines
from tests.helpers.process_stack import (
    ProcessStack,
    campaign_dir,
    log_tails,
    new_sims,
    process_stack,
    writes_per_sim,
)
from tests.helpers.processes import simops

EMULATOR = ["--scheduled-delay", "0.5-1.5", "--max-concurrency", "100"]
READ_BACK_AT_ONCE = 100
"""SIMs read back at once when checking where every SIM ended."""
WAIT_FOR_ROWS_SECONDS = 120.0
"""How long a scenario waits for the rows it breaks things at (within its own deadline)."""
RPC_SECONDS = 30.0
"""The longest one call to Temporal may take: a call to a server that is down fails, and the
caller tries again while its deadline allows."""
LOG_TAIL_LINES = 25
ONE_BATCH_AT_A_TIME = 5
"""A concurrency that runs one batch at a time: a campaign runs at most its concurrency over 5
batches at once. A campaign started with `simops campaign start` has batches of 1,000 rows, so
its rows then end in steps of 1,000, and a scenario waiting for a third of them breaks things
with the next batch in flight rather than once every batch is about to end."""

T = TypeVar("T")


class Deadline:
    """The moment by which a whole scenario must be done: each wait is bounded by what is left
    of it and names itself when it runs out, so a stuck scenario says where it was stuck."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (0 once past)."""
        return max(0.0, self._at - time.monotonic())

    async def wait(self, awaitable: Awaitable[T], what: str) -> T:
        """Await `awaitable` until the deadline; a `TimeoutError` naming `what` after it."""
        try:
            async with asyncio.timeout(self.left()) as scope:
                return await awaitable
        except TimeoutError:
            if scope.expired():
                raise TimeoutError(
                    f"{what}: not done within the scenario's {self.seconds:g} s"
                ) from None
            raise


@dataclass
class Accounting:
    """Every SIM of a campaign, from its report, the API and the emulator's write log."""

    converged: int
    """SIMs reported `converged` (written by this campaign)."""
    already_converged: int
    failed: Counter[str]
    unaccounted: int
    """Rows without exactly one final outcome, a SIM's rows after its first, and rows of SIMs
    not in the campaign (must be 0)."""
    false_converged: int
    """SIMs reported (already) converged that are not where they should be (must be 0)."""
    sims_written: int
    """SIMs that got any state-changing write during the campaign."""
    max_writes_per_sim: int
    overwritten: int
    """SIMs that got more state-changing writes than their path needs (must be 0)."""
    written_already_converged: int
    """SIMs the emulator saw written but reported `already_converged` (must be 0)."""
    writes_mismatched: int
    """SIMs whose report's `writes` differs from the emulator's count (must be 0)."""
    converged_unwritten: int
    """SIMs reported `converged` that the emulator never saw written (must be 0)."""
    rollback_missed: int
    """SIMs a migration wrote that its rollback would not restore (must be 0)."""
    out_of_service: int
    """SIMs active before the campaign and not active after it (must be 0)."""

    def report_mismatches(self) -> int:
        """SIMs whose report does not tell what the emulator saw done to them."""
        return self.written_already_converged + self.writes_mismatched + self.converged_unwritten


@dataclass
class ChaosResult:
    """One line of the chaos table."""

    scenario: str
    sims: int
    campaign_id: str
    phase: str
    stop_reason: str | None
    accounting: Accounting
    seconds: float
    expected_phase: str = CampaignPhase.COMPLETED.value
    stops_on: int | None = None
    """The API error code the campaign must stop on (`None`: it must complete)."""
    most_sims_written: int | None = None
    """The most SIMs that may get any write before the campaign stops (`None`: no bound)."""
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """What went wrong, one short line each (empty when the scenario passed)."""
        counts = self.accounting
        must_be_zero = {
            "unaccounted for": counts.unaccounted,
            "falsely converged": counts.false_converged,
            "written more than needed": counts.overwritten,
            "written but reported already_converged": counts.written_already_converged,
            "with report writes other than the emulator's": counts.writes_mismatched,
            "reported converged without a write": counts.converged_unwritten,
            "written but left out of the rollback": counts.rollback_missed,
            "out of service at the end": counts.out_of_service,
        }
        problems = [f"{count} SIMs {what}" for what, count in must_be_zero.items() if count]
        if self.phase != self.expected_phase:
            problems.append(f"ended {self.phase}, not {self.expected_phase}: {self.stop_reason}")
        if self.stops_on is not None and str(self.stops_on) not in (self.stop_reason or ""):
            problems.append(f"the stop reason does not name {self.stops_on}")
        written, most = counts.sims_written, self.most_sims_written
        if most is not None and written > most:
            problems.append(f"{written} SIMs written, more than the {most} allowed")
        return problems

    @property
    def passed(self) -> bool:
        """Every check of `problems` holds."""
        return not self.problems()


Scenario = Callable[[ProcessStack, CampaignHandle, int], Awaitable[list[str]]]

SpecBuilder = Callable[[str, Path], CampaignSpec]
"""A campaign's spec from its ID and its source file."""

Converged = tuple[str, SimStatus, str | None]
"""Where a SIM is: its account, status and Fleet."""


@dataclass
class Prepared:
    """A workload's campaign, ready to start: its SIMs, its spec, and the end it must reach.

    `expected` and `writes_needed` hold every SIM of `sids`: the state it must read back in
    once reported converged, and the state-changing writes its path needs at most; `active`
    are the SIMs in service before the campaign, which must all be in service after it.
    """

    sids: list[str]
    spec: SpecBuilder
    expected: dict[str, Converged]
    writes_needed: dict[str, int]
    active: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Workload:
    """The campaign a scenario runs: the emulator it needs, how its SIMs are readied, and
    the API error code that must stop it (`None`: it must complete)."""

    emulator_args: list[str]
    prepare: Callable[[ProcessStack, int], Awaitable[Prepared]]
    stops_on: int | None = None


async def _prepare_activation(stack: ProcessStack, sims: int) -> Prepared:
    return _activation_of(stack, await new_sims(stack, sims))


def _activation_of(stack: ProcessStack, sids: list[str]) -> Prepared:
    parent = stack.emulator.parent
    fleet = parent.fleets[0]

    def spec(campaign_id: str, source: Path) -> CampaignSpec:
        return CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.ACTIVATE,
            source=CampaignSource(file_name=source.name),
            fleet=fleet,
        )

    return Prepared(
        sids=sids,
        spec=spec,
        expected=dict.fromkeys(sids, (parent.account_sid, SimStatus.ACTIVE, fleet)),
        writes_needed=dict.fromkeys(sids, 1),
    )


activation = Workload(emulator_args=[], prepare=_prepare_activation)
"""New SIMs activated into the parent's first Fleet: one write each."""

MIGRATION_ACTIVE_SHARE = 3
"""One SIM in this many of a migration starts `active`; the others are `new`."""


async def _prepare_migration(stack: ProcessStack, sims: int) -> Prepared:
    child = stack.emulator.accounts[1]
    sids = await new_sims(stack, sims)
    active = sids[: sims // MIGRATION_ACTIVE_SHARE]
    # The active SIMs are activated by a campaign of their own before the migration starts.
    await _run_to_end(stack, _activation_of(stack, active), "setup")
    # The emulator seeds every account's Fleets in the same order, "default" first.
    child_default = child.fleets[0]
    expected: dict[str, Converged] = dict.fromkeys(sids, (child.account_sid, SimStatus.NEW, None))
    expected |= dict.fromkeys(active, (child.account_sid, SimStatus.ACTIVE, child_default))
    migration_spec = MigrationSpec(
        to_account=child.account_sid,
        fleet_map={"default": "default"},
        deactivate_first=True,
        reactivate=True,
    )

    def spec(campaign_id: str, source: Path) -> CampaignSpec:
        return CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.MOVE,
            source=CampaignSource(file_name=source.name),
            migration=migration_spec,
        )

    return Prepared(
        sids=sids,
        spec=spec,
        expected=expected,
        # A new SIM moves (1); an active one is deactivated, moved and reactivated (3).
        writes_needed=dict.fromkeys(sids, 1) | dict.fromkeys(active, 3),
        active=active,
    )


migration = Workload(
    emulator_args=["--child-accounts", "1", "--inactive-move-beta"],
    prepare=_prepare_migration,
)
"""SIMs moved from the parent to a child, a third of them active (deactivated, moved and
reactivated into the child's Fleet of the same name), the rest new."""


async def _prepare_active_migration(stack: ProcessStack, sims: int) -> Prepared:
    child = stack.emulator.accounts[1]
    sids = await new_sims(stack, sims)
    await _run_to_end(stack, _activation_of(stack, sids), "setup")

    def spec(campaign_id: str, source: Path) -> CampaignSpec:
        # As `simops migrate start --from-file F --to-account CHILD --deactivate-first
        # --reactivate --default-fleet default` builds it: with its default canary.
        return build_migration_spec(
            campaign_id=campaign_id,
            to_account=child.account_sid,
            from_file=source,
            from_account=None,
            default_fleet="default",
            deactivate_first=True,
            reactivate=True,
        )

    return Prepared(
        sids=sids,
        spec=spec,
        expected=dict.fromkeys(sids, (child.account_sid, SimStatus.ACTIVE, child.fleets[0])),
        # Deactivated, moved and reactivated; without the beta, deactivated and reactivated.
        writes_needed=dict.fromkeys(sids, 3),
        active=sids,
    )


active_migration = Workload(
    emulator_args=["--child-accounts", "1", "--inactive-move-beta"],
    prepare=_prepare_active_migration,
)
"""Active SIMs migrated to a child with --deactivate-first --reactivate, the spec built as the
command line builds it (a canary of 10)."""

migration_without_beta = Workload(
    emulator_args=["--child-accounts", "1"],
    prepare=_prepare_active_migration,
    stops_on=int(RuleCode.TRANSITION_NOT_ALLOWED),
)
"""`active_migration` on an account without the inactive-move beta: every move is refused
(83010), so the campaign must stop after the canary, and every SIM it deactivated must be
active again."""


async def _run_to_end(stack: ProcessStack, prepared: Prepared, campaign_id: str) -> None:
    handle, _ = await _start(stack, prepared, campaign_id, {})
    result = await _result(handle)
    if result.phase.value != "completed":
        raise RuntimeError(f"{campaign_id} ended {result.phase.value}: {result.stop_reason}")


async def _start(
    stack: ProcessStack, prepared: Prepared, campaign_id: str, spec_fields: Mapping[str, object]
) -> tuple[CampaignHandle, CampaignSpec]:
    source = stack.directory / f"{campaign_id}.csv"
    source.write_text("sim\n" + "".join(f"{sid}\n" for sid in prepared.sids))
    built = prepared.spec(campaign_id, source).model_dump()
    spec = CampaignSpec.model_validate({**built, "concurrency": 100, **spec_fields})
    return await start_campaign(stack.client, stack.settings, spec, source), spec


async def wait_for_rows(
    handle: CampaignHandle, rows: int, limit_seconds: float = WAIT_FOR_ROWS_SECONDS
) -> int:
    """Wait until at least `rows` rows ended; how many had."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        with_progress = await _progress_or_none(handle)
        if with_progress is not None and with_progress >= rows:
            return with_progress
        await asyncio.sleep(0.25)
    raise TimeoutError(f"fewer than {rows} rows ended in {limit_seconds:g} s")


async def _progress_or_none(handle: CampaignHandle) -> int | None:
    try:
        # Without a time limit, a query can wait long for a worker that was just killed.
        progress = await handle.query(
            CampaignWorkflow.progress, rpc_timeout=timedelta(seconds=RPC_SECONDS)
        )
    except Exception:  # the server or the worker may be down: that is the scenario
        return None
    return progress.ended_rows


async def account(
    stack: ProcessStack, campaign_id: str, prepared: Prepared, written: Mapping[str, int]
) -> Accounting:
    """Every SIM of the campaign, from its report in the stack's store (`account_rows`)."""
    with CampaignStore.open(stack.settings.campaign_dir, campaign_id) as store:
        rows = list(store.report_rows())
        # What `simops migrate rollback` would restore (an activation has no rollback).
        restorable = (
            {source.reference for source, target, _ in restore_rows(store, campaign_id) if target}
            if store.spec.action in MIGRATION_ACTIONS
            else None
        )
    return await account_rows(stack, rows, prepared, written, restorable)


async def account_rows(
    stack: ProcessStack,
    rows: Sequence[ReportRow],
    prepared: Prepared,
    written: Mapping[str, int],
    restorable: set[str] | None = None,
) -> Accounting:
    """Every SIM of the campaign, from its report's `rows`, read back from the API, and checked
    against `written`: the state-changing writes the emulator saw each SIM get. `restorable`:
    the SIMs a migration's rollback would restore (`None`: the campaign has no rollback)."""
    ended = Counter(row.row_no for row in rows if row.outcome != "pending")
    rows_per_sim = Counter(row.sim_sid for row in rows if row.sim_sid is not None)
    campaign_sims = set(prepared.sids)
    by_sim = {row.sim_sid: row for row in rows if row.sim_sid is not None}
    outcomes = Counter(row.outcome for row in rows)
    found = await _read_back(stack, prepared.sids)
    said_converged = [
        sid
        for sid, row in by_sim.items()
        if row.outcome in (OutcomeKind.CONVERGED, OutcomeKind.ALREADY_CONVERGED)
    ]

    def count(check: Callable[[str], bool]) -> int:
        return sum(1 for sid in prepared.sids if check(sid))

    def outcome(sid: str) -> str | None:
        row = by_sim.get(sid)
        return None if row is None else row.outcome

    return Accounting(
        converged=outcomes[OutcomeKind.CONVERGED],
        already_converged=outcomes[OutcomeKind.ALREADY_CONVERGED],
        failed=Counter(row.message or "?" for row in rows if row.outcome == OutcomeKind.FAILED),
        unaccounted=len(prepared.sids)
        - sum(1 for times in ended.values() if times == 1)
        # A SIM's second row, or a row of a SIM not in the campaign, accounts for nothing.
        + sum(times - 1 if sid in campaign_sims else times for sid, times in rows_per_sim.items()),
        false_converged=sum(1 for sid in said_converged if found[sid] != prepared.expected[sid]),
        sims_written=len(written),
        max_writes_per_sim=max(written.values(), default=0),
        overwritten=overwritten(written, prepared.writes_needed),
        written_already_converged=count(
            lambda sid: sid in written and outcome(sid) == OutcomeKind.ALREADY_CONVERGED
        ),
        writes_mismatched=count(
            lambda sid: (by_sim[sid].writes if sid in by_sim else 0) != written.get(sid, 0)
        ),
        converged_unwritten=count(
            lambda sid: sid not in written and outcome(sid) == OutcomeKind.CONVERGED
        ),
        rollback_missed=(
            0 if restorable is None else sum(1 for sid in written if sid not in restorable)
        ),
        out_of_service=sum(1 for sid in prepared.active if found[sid][1] != SimStatus.ACTIVE),
    )


async def _read_back(stack: ProcessStack, sids: Sequence[str]) -> dict[str, Converged]:
    async with SuperSimClient.from_settings(stack.settings) as api:

        async def where(sid: str) -> Converged:
            sim = await api.fetch_sim(sid)
            return sim.account_sid, sim.status, sim.fleet_sid

        found: dict[str, Converged] = {}
        for start in range(0, len(sids), READ_BACK_AT_ONCE):
            group = sids[start : start + READ_BACK_AT_ONCE]
            found.update(zip(group, await asyncio.gather(*map(where, group)), strict=True))
        return found


def overwritten(per_sim: Mapping[str, int], writes_needed: dict[str, int]) -> int:
    """How many SIMs got more state-changing writes than their path needs."""
    return sum(1 for sid, writes in per_sim.items() if writes > writes_needed.get(sid, 0))


def writes_since(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """The SIMs written between two readings of `writes_per_sim`, with their writes."""
    return {sid: n - before.get(sid, 0) for sid, n in after.items() if n > before.get(sid, 0)}


def diagnostics(directory: Path, stores: StoreBackend | None = None) -> str:
    """What a scenario in `directory` left: each campaign's counts and stop reason from its
    store (in `stores`, by default the SQLite files of the stack's campaign directory), and the
    end of each process log (dev server, emulator, workers, ingress)."""
    lines = []
    stores = stores or SqliteStores(campaign_dir(directory))
    try:
        campaign_ids = CampaignStore.list_ids(stores)
    except Exception as error:  # a diagnosis must not fail on what it diagnoses
        lines.append(f"campaign store {stores.describe()} unreadable: {error}")
        campaign_ids = []
    for campaign_id in campaign_ids:
        try:
            with CampaignStore.open(stores, campaign_id) as store:
                counts = {outcome: n for outcome, n in store.counts().items() if n}
                lines.append(f"campaign {campaign_id}: {counts}, stopped: {store.stop_reason()}")
        except Exception as error:  # a diagnosis must not fail on what it diagnoses
            lines.append(f"campaign {campaign_id}: store unreadable: {error}")
    lines.append(log_tails(directory, LOG_TAIL_LINES))
    return "\n".join(lines)


@dataclass
class Run:
    """A chaos campaign once started: what `observe` needs to finish it and account for it."""

    name: str
    sims: int
    campaign_id: str
    stack: ProcessStack
    handle: CampaignHandle
    deadline: Deadline
    started: float
    """`time.perf_counter()` when the campaign was started."""
    writes_before: dict[str, int]
    """The emulator's writes per SIM before the campaign: only what comes after counts."""

    async def observe(
        self,
        scenario: Scenario,
        account_for: Callable[[dict[str, int]], Awaitable[Accounting]],
    ) -> ChaosResult:
        """Let `scenario` break things, wait for the campaign's end, then account for every SIM
        with `account_for` (given the writes the campaign made, by SIM), each step within the
        deadline; the line of the chaos table, expecting a completed campaign."""
        deadline = self.deadline
        notes = await deadline.wait(
            scenario(self.stack, self.handle, self.sims), f"the scenario {self.name!r}"
        )
        result = await deadline.wait(_result(self.handle), "the campaign's result")
        seconds = time.perf_counter() - self.started
        after = await deadline.wait(writes_per_sim(self.stack), "reading the write log")
        accounting = await deadline.wait(
            account_for(writes_since(self.writes_before, after)), "accounting for every SIM"
        )
        return ChaosResult(
            scenario=self.name,
            sims=self.sims,
            campaign_id=self.campaign_id,
            phase=result.phase.value,
            stop_reason=result.stop_reason,
            accounting=accounting,
            seconds=seconds,
            notes=notes,
        )


async def run_scenario(
    name: str,
    directory: Path,
    sims: int,
    scenario: Scenario,
    *,
    workload: Workload = activation,
    emulator_args: list[str] | None = None,
    spec_fields: Mapping[str, object] | None = None,
    limit_seconds: float,
) -> ChaosResult:
    """Run the workload's campaign over `sims` SIMs while `scenario` breaks things, all of it
    (the stack's start included, its stop excluded) within `limit_seconds`."""
    deadline = Deadline(limit_seconds)
    args = [*(emulator_args or EMULATOR), *workload.emulator_args, "--seed-sims", str(sims)]
    async with AsyncExitStack() as stacks:
        stack = await deadline.wait(
            stacks.enter_async_context(process_stack(directory, args)), "starting the stack"
        )
        prepared = await deadline.wait(workload.prepare(stack, sims), "preparing the SIMs")
        # SIMs may have been written to prepare them: only what comes after counts.
        before = await deadline.wait(writes_per_sim(stack), "reading the write log")
        campaign_id = f"chaos-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        handle, spec = await deadline.wait(
            _start(stack, prepared, campaign_id, spec_fields or {}), "starting the campaign"
        )
        run = Run(name, sims, campaign_id, stack, handle, deadline, started, before)
        result = await run.observe(
            scenario, lambda written: account(stack, campaign_id, prepared, written)
        )
    stops = workload.stops_on is not None
    return dataclasses.replace(
        result,
        expected_phase=(CampaignPhase.STOPPED if stops else CampaignPhase.COMPLETED).value,
        stops_on=workload.stops_on,
        # Once the first SIM's error stops the campaign, only the SIMs already in flight may
        # still be written: the canary's, which is alone in flight.
        most_sims_written=(spec.canary or None) if stops else None,
    )


def rows_of_csv_report(text: str) -> list[ReportRow]:
    """The rows of a report as `simops campaign report --format csv` writes it: empty cells
    are missing values, and a cell that would start a spreadsheet formula was quoted with `'`
    (`csv_safe`)."""

    def cell(value: str) -> str:
        quoted = value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS)
        return value[1:] if quoted else value

    return [
        ReportRow.model_validate({column: cell(value) for column, value in row.items() if value})
        for row in csv.DictReader(io.StringIO(text))
    ]


async def run_on_machines(
    name: str,
    directory: Path,
    sims: int,
    scenario: Scenario,
    *,
    database_url: str,
    limit_seconds: float,
    concurrency: int = ONE_BATCH_AT_A_TIME,
) -> ChaosResult:
    """An activation of `sims` SIMs on two workers as on machines of their own
    (tests/helpers/machines.py), which share only the PostgreSQL database at `database_url`, while
    `scenario` breaks things; all of it within `limit_seconds`, as in `run_scenario`.

    An operator's third directory upgrades the database, starts the campaign (`simops
    campaign start`, with `--concurrency`) and reads its report (`simops campaign report
    --format csv`), whose rows are then checked against the emulator's write log."""
    deadline = Deadline(limit_seconds)
    args = [*EMULATOR, "--seed-sims", str(sims)]
    async with AsyncExitStack() as stacks:
        stack = await deadline.wait(
            stacks.enter_async_context(process_stack(directory, args, workers=0)),
            "starting the stack",
        )
        machines = await deadline.wait(
            start_machines(stack, database_url), "upgrading the database, starting the workers"
        )
        operator = machines.operator
        prepared = await deadline.wait(activation.prepare(stack, sims), "preparing the SIMs")
        before = await deadline.wait(writes_per_sim(stack), "reading the write log")
        campaign_id = f"machines-{uuid.uuid4().hex[:8]}"
        source = operator.directory / f"{campaign_id}.csv"
        source.write_text("sim\n" + "".join(f"{sid}\n" for sid in prepared.sids))
        started = time.perf_counter()
        await deadline.wait(
            simops(
                operator,
                *("campaign", "start", "--action", "activate", "--from-file", source.name),
                *("--fleet", operator.fleet, "--id", campaign_id),
                *("--concurrency", str(concurrency)),
            ),
            "simops campaign start",
        )
        handle: CampaignHandle = stack.client.get_workflow_handle_for(
            CampaignWorkflow.run, campaign_workflow_id(campaign_id)
        )

        async def account_cli_report(written: dict[str, int]) -> Accounting:
            report = await deadline.wait(
                simops(operator, "campaign", "report", campaign_id, "--format", "csv"),
                "simops campaign report",
            )
            return await account_rows(stack, rows_of_csv_report(report), prepared, written)

        run = Run(name, sims, campaign_id, stack, handle, deadline, started, before)
        return await run.observe(scenario, account_cli_report)


async def _result(handle: CampaignHandle) -> CampaignResult:
    """The campaign's result; the caller's deadline bounds the wait."""
    while True:
        try:
            return await handle.result(rpc_timeout=timedelta(seconds=RPC_SECONDS))
        except RPCError:
            # The server may be restarting (that is the scenario; the client reconnects on its
            # next call), or one long poll ran out of time.
            await asyncio.sleep(1)


def untouched() -> Scenario:
    """Break nothing: the workload alone (e.g. one the API refuses)."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        return []

    return scenario


def kill_worker(times: int) -> Scenario:
    """SIGKILL the worker `times` times, evenly through the campaign, restarting it each time."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        notes = []
        for kill in range(1, times + 1):
            ended = await wait_for_rows(handle, sims * kill // (times + 1))
            await stack.kill_worker()
            notes.append(f"worker SIGKILLed at {ended} rows")
            await asyncio.sleep(1)
            await stack.start_worker()
        return notes

    return scenario


def restart_server() -> Scenario:
    """SIGKILL the Temporal dev server mid-campaign and start it again on its state file."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        ended = await wait_for_rows(handle, sims // 3)
        await stack.kill_temporal()
        await asyncio.sleep(2)
        await stack.restart_temporal()
        return [f"dev server SIGKILLed at {ended} rows and restarted"]

    return scenario


def terminate_batch() -> Scenario:
    """Terminate a running batch child workflow through the Temporal client mid-campaign, the
    one started last (its SIMs are the likeliest to have writes in flight)."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        ended = await wait_for_rows(handle, sims // 4)
        batch = await _last_running_batch(stack, handle.id)
        await batch.terminate(reason="chaos: a batch child terminated mid-campaign")
        return [f"{batch.id.removeprefix(handle.id + '-')} terminated at {ended} rows"]

    return scenario


async def _running_batches(
    stack: ProcessStack, campaign_workflow: str
) -> AsyncIterator[tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]]:
    """Each running batch child of the campaign, lowest number first (batches are numbered
    from 1, and the first number not found ends them)."""
    for batch_no in itertools.count(1):
        batch = stack.client.get_workflow_handle(
            batch_workflow_id(campaign_id_of(campaign_workflow), batch_no)
        )
        try:
            description = await batch.describe(rpc_timeout=timedelta(seconds=RPC_SECONDS))
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            return
        if description.status == WorkflowExecutionStatus.RUNNING:
            yield batch, description


async def _last_running_batch(
    stack: ProcessStack, campaign_workflow: str
) -> WorkflowHandle[Any, Any]:
    """The running batch child with the highest number."""
    running = None
    async for batch, _ in _running_batches(stack, campaign_workflow):
        running = batch
    if running is None:
        raise RuntimeError(f"no batch of {campaign_workflow} was running")
    return running


async def _busy_worker(stack: ProcessStack, campaign_workflow: str) -> tuple[int, str]:
    """A live worker running an activity of a running batch (its number), and that batch;
    the caller's deadline bounds the wait for one."""
    live = {
        worker.pid: number
        for number, worker in enumerate(stack.workers, start=1)
        if worker.returncode is None
    }
    while True:
        async for batch, description in _running_batches(stack, campaign_workflow):
            for activity in description.raw_description.pending_activities:
                # A worker's identity is the SDK's default, "PID@HOST".
                pid = activity.last_worker_identity.partition("@")[0]
                if pid.isdigit() and int(pid) in live:
                    return live[int(pid)], batch.id.removeprefix(campaign_workflow + "-")
        await asyncio.sleep(0.2)


def kill_busy_worker(writes_in_flight: int = 50) -> Scenario:
    """Once a third of the rows ended, SIGKILL one worker, one running a batch's activity,
    after the emulator saw `writes_in_flight` more SIMs written than rows had ended (the kill
    interrupts writes whose rows have not ended), and leave it dead: the others must finish
    the campaign. For an activation: it counts every SIM the emulator saw written."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        ended = await wait_for_rows(handle, sims // 3)
        # The caller's deadline bounds the wait.
        while True:
            written = len(await writes_per_sim(stack))
            if written >= ended + writes_in_flight:
                break
            await asyncio.sleep(0.1)
        number, batch = await _busy_worker(stack, handle.id)
        await stack.kill_worker(number)
        return [
            f"worker {number} (running {batch}) SIGKILLed at {ended} rows, {written} SIMs written"
        ]

    return scenario


def ingress_down(seconds: float) -> Scenario:
    """Stop the callback ingress for `seconds` mid-campaign: batches must fall back to polling."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        ended = await wait_for_rows(handle, sims // 4)
        await stack.stop_ingress()
        await asyncio.sleep(seconds)
        await stack.start_ingress()
        return [f"ingress down for {seconds:g} s from {ended} rows"]

    return scenario


def faults(**rates: float) -> Scenario:
    """Turn on the emulator's faults for the whole campaign."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        await stack.emulator_json("POST", "/_emulator/faults", rates)
        return [", ".join(f"{name} {value:g}" for name, value in rates.items())]

    return scenario


def forged_callbacks(per_kind: int) -> Scenario:
    """Forged, badly signed, replayed and lying callbacks aimed at the running batches."""

    async def scenario(stack: ProcessStack, handle: CampaignHandle, sims: int) -> list[str]:
        await wait_for_rows(handle, 1)
        answers: Counter[str] = Counter()
        campaign = handle.id
        batch_ids = [batch_workflow_id(campaign_id_of(campaign), n) for n in range(1, 4)]
        async with SuperSimClient.from_settings(stack.settings) as api:
            scheduled = [s async for s in api.list_sims(status=SimStatus.SCHEDULED, limit=per_kind)]
        async with aiohttp.ClientSession() as session:
            for batch_id in batch_ids:
                for sim in scheduled:
                    for kind, status in await _send_attacks(stack, session, batch_id, sim.sid):
                        answers[f"{kind} {status}"] += 1
        return [f"attacks answered: {dict(answers)}"]

    return scenario


async def _send_attacks(
    stack: ProcessStack, session: aiohttp.ClientSession, workflow_id: str, sim_sid: str
) -> list[tuple[str, int]]:
    base = stack.settings.callback_base_url or ""
    secret = stack.settings.callback_secret
    assert secret is not None
    good_url = callback_url(base, secret.get_secret_value(), workflow_id)
    parent = stack.emulator.parent
    fields = {
        "SimSid": sim_sid,
        "SimUniqueName": "",
        "SimStatus": "active",
        "AccountSid": parent.account_sid,
    }
    body = urlencode(fields).encode()

    def headers(url: str, token: str) -> dict[str, str]:
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "kore-signature": kore_signature(parent.webhook_secret, "POST", url, body),
            "X-Twilio-Signature": twilio_signature(parent.auth_token, url, list(fields.items())),
            "kore-idempotency-token": token,
        }

    forged_url = good_url.rsplit("/", 1)[0] + "/" + "0" * 32
    bad_signature = headers(good_url, uuid.uuid4().hex) | {"kore-signature": "0" * 64}
    replay_token = uuid.uuid4().hex
    attempts = [
        ("forged-url", forged_url, headers(forged_url, uuid.uuid4().hex)),
        ("bad-signature", good_url, bad_signature),
        ("lying-but-signed", good_url, headers(good_url, replay_token)),
        ("replayed", good_url, headers(good_url, replay_token)),
    ]
    answers = []
    for kind, url, sent in attempts:
        async with session.post(url, data=body, headers=sent) as response:
            answers.append((kind, response.status))
    return answers
