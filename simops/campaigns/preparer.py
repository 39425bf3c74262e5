"""Preparing a campaign: import its rows, snapshot the SIMs they name, validate and plan each.

One activity runs before any batch, and makes only read calls, so the dry run is the same code
stopped before the batches. It resumes where a crash left it: each stage records its end in the
store (rows imported, snapshot taken, rows validated up to N), and a stage cut short is done
again from its start, which is safe because it writes nothing but the store.

How SIMs are found: by listing the whole account (1,000 SIMs a request, one page after the
other), keeping the SIMs the rows may name (`WantedSims`), and resolving rows against those; or
by looking each row's SIM up (a fetch by SID or unique name, a filtered list by ICCID: one
request each, many at once under the rate budget).
Which is quicker depends on the account's size, which nothing tells in advance: so the listing
starts, and stops as soon as it has taken as long as the lookups would at the configured rate
(`api_max_rps`); the lookups then run. Either way the time is at most twice the quicker way's. A
filter source's listing is its own snapshot. No ICCID ever goes to a log line, a heartbeat or
the result: they carry counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import aclosing
from functools import partial
from itertools import islice
from typing import TypeVar

from simops.campaigns.copied_rows import copy_rows, retried_rows
from simops.campaigns.migration_preparer import list_account_fleets, restore_rows
from simops.campaigns.migration_rules import MigrationTargets, RollbackTargets
from simops.campaigns.reports import RowTally
from simops.campaigns.rows import DryRunPlan, PrepareResult
from simops.campaigns.rules import (
    ActionTargets,
    FleetIndex,
    FleetRef,
    RowInvalidError,
    RowJudge,
    Targets,
)
from simops.campaigns.sources import CampaignFile, ReferenceKind, SourceError, SourceRow
from simops.campaigns.spec import MIGRATION_ACTIONS, CampaignAction
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignStoreError
from simops.campaigns.store.preparation import CopiedRow, PrepareStage
from simops.campaigns.wanted_sims import WantedSims
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import MAX_PAGE_SIZE, SuperSimClient
from simops.supersim.errors import NotFoundError
from simops.supersim.resources import Fleet, Sim, SimSummary

logger = logging.getLogger(__name__)

# Rows and SIMs are written in transactions of thousands: SQLite checkpoints its write-ahead
# log as commits add to it, and a commit per 1,000 SIMs spent more time committing than
# inserting (17 ms a commit, measured with the snapshot's indexes; 5 ms a 1,000 SIMs in
# commits of 10,000). A stage cut short is done again from its last commit (validation) or
# its start (import, snapshot), so the size of a transaction changes nothing else.
IMPORT_CHUNK = 20_000
VALIDATE_CHUNK = 100_000
"""Rows validated in one transaction: setting each row's SIM adds it to the index of rows by
SIM, in no order, so each commit rewrites most of that index's pages whatever its size."""
JUDGE_CHUNK = 10_000
"""Rows of that transaction resolved and judged at a time (what sits in memory)."""
SNAPSHOT_BATCH = 2_000
"""Listed SIMs the snapshot writes at once, while the listing goes on: few, since they sit in
memory as whole Sims (it commits them in transactions of `SNAPSHOT_COMMIT`)."""
LOOKUP_GROUP = 100
"""Lookups started together; the client's budget paces them."""

T = TypeVar("T")


Progress = Callable[[str, int], None]
"""Called with a stage name and how many items of it are done, every few thousand rows."""


def no_progress(stage: str, done: int) -> None:
    """Progress nobody follows (the default outside an activity)."""


class CampaignPreparer:
    """Prepares one campaign store with one client (the activity's, or the dry run's).

    `on_progress` hears of progress (the activity heartbeats; a CLI may draw a bar);
    `page_size` is how many SIMs a listing request asks for; `validate_chunk` is how many rows
    are validated in one transaction (and so done again after a crash), `judge_chunk` how many
    of them are resolved and judged at a time.
    """

    def __init__(
        self,
        client: SuperSimClient,
        settings: SimopsSettings,
        store: CampaignStore,
        *,
        on_progress: Progress = no_progress,
        page_size: int = MAX_PAGE_SIZE,
        validate_chunk: int = VALIDATE_CHUNK,
        judge_chunk: int = JUDGE_CHUNK,
    ) -> None:
        self._client = client
        self._settings = settings
        self._store = store
        self._tables = store.preparation
        self._progress = on_progress
        self._page_size = page_size
        self._validate_chunk_rows = validate_chunk
        self._judge_chunk_rows = judge_chunk
        source = store.spec.source
        self._is_filter = (
            source.file_name is None and source.rollback_of is None and source.retry_of is None
        )

    async def _gather_in_groups(
        self, items: Sequence[str], look_up: Callable[[str], Awaitable[T]], stage: str
    ) -> list[T]:
        results: list[T] = []
        for start in range(0, len(items), LOOKUP_GROUP):
            group = items[start : start + LOOKUP_GROUP]
            results.extend(await asyncio.gather(*(look_up(item) for item in group)))
            self._progress(stage, len(results))
        return results

    async def run(self) -> PrepareResult:
        """Prepare the campaign (or finish preparing it); the counts of its rows."""
        tables, run = self._tables, self._store.run
        stage = await run(tables.stage)
        if stage is PrepareStage.PREPARED:
            recorded = await run(tables.result)
            return recorded if recorded is not None else await run(tables.summarize)
        if stage is PrepareStage.NEW:
            await self._import()
            stage = PrepareStage.IMPORTED
            await run(tables.set_stage, stage)
        if stage is PrepareStage.IMPORTED:
            await self._snapshot()
            await run(tables.set_stage, PrepareStage.SNAPSHOT)
        await self._validate()
        result = await run(tables.summarize)
        await run(tables.finish, result)
        logger.info(
            "campaign %s prepared: %d rows, %d valid, %d invalid, %d already converged",
            self._store.spec.campaign_id,
            result.rows,
            result.valid,
            result.invalid,
            result.already_converged,
        )
        return result

    # Stage 1: rows

    async def _import(self) -> None:
        await self._store.run(self._tables.reset)
        source = self._store.spec.source
        earlier = source.rollback_of or source.retry_of
        if earlier is not None:
            copied: Callable[[CampaignStore], Iterable[CopiedRow]] = (
                partial(restore_rows, migration_id=earlier)
                if source.rollback_of is not None
                else partial(retried_rows, source=source)
            )
            imported = await self._store.run(
                copy_rows, store_backend(self._settings), earlier, self._tables, copied
            )
            self._progress("import", imported)
            return
        if self._is_filter:
            await self._import_filter()
            return
        # The store keeps the file; it is read from a private copy, removed once imported.
        copy = self._store.source_copy()
        path = await self._store.run(copy.__enter__)
        reading: asyncio.Future[list[SourceRow]] | None = None
        try:
            rows = iter(await asyncio.to_thread(CampaignFile.open, path))
            imported = 0
            # The next chunk is parsed on a thread of its own while the store writes this one.
            reading = asyncio.ensure_future(asyncio.to_thread(_next_chunk, rows))
            while chunk := await reading:
                reading = asyncio.ensure_future(asyncio.to_thread(_next_chunk, rows))
                await self._store.run(self._tables.add_rows, chunk)
                imported += len(chunk)
                self._progress("import", imported)
        finally:
            if reading is not None:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
            await self._store.run(copy.__exit__, None, None, None)

    async def _filter_fleet(self) -> str | None:
        """The filter's Fleet; in one account's SIMs, resolved in that account to its SID.

        The API resolves a Fleet filter's unique name in the requester's account first, and
        every account has a `default` Fleet: a child's must be named by its SID.
        """
        source = self._store.spec.source
        if source.fleet is None or source.account_sid is None:
            return source.fleet
        own = await self._client.list_fleets()
        found = await list_account_fleets(self._settings, own, [source.account_sid], None)
        index = FleetIndex(map(fleet_ref, found.fleets), own_accounts=found.listed)
        try:
            return index.resolve(source.fleet, source.account_sid)
        except RowInvalidError as error:
            raise SourceError(f"--fleet {source.fleet}: {error.reason}") from None

    async def _filter_pages(self) -> AsyncIterator[list[SimSummary]]:
        """The SIMs the filter matches, a listing page at a time."""
        source = self._store.spec.source
        fleet = await self._filter_fleet()
        pages = self._client.list_sim_pages(
            status=source.status, fleet=fleet, page_size=self._page_size
        )
        async with aclosing(pages):
            async for page in pages:
                yield [
                    sim
                    for sim in page.sims
                    if source.account_sid is None or sim.account_sid == source.account_sid
                ]

    async def _import_filter(self) -> None:
        imported = 0
        async for sims in self._filter_pages():
            rows = [
                SourceRow(row_no=imported + index, reference=sim.sid, kind=ReferenceKind.SID)
                for index, sim in enumerate(sims, start=1)
            ]
            await self._store.run(self._tables.add_rows, rows, sims)
            imported += len(rows)
            self._progress("import", imported)

    async def scan(self) -> PrepareResult:
        """A continuous campaign's scan: list its filter again, append the SIMs that match and
        are not yet its rows, and validate and plan them as preparation does any row (the
        Fleets listed afresh); the counts of all its rows.

        Batches keep running meanwhile: the rows they work on are never touched, and the new
        ones get no batch before the scan returned. A scan cut short is done again from its
        start; the rows it appended stay, and are validated then.
        """
        tables, run = self._tables, self._store.run
        if not await run(self._store.is_prepared):
            raise CampaignStoreError(f"campaign {self._store.spec.campaign_id} is not prepared yet")
        appended = 0
        async for sims in self._filter_pages():
            appended += await run(tables.append_sims, sims)
            self._progress("scan", appended)
        await self._snapshot_fleets()
        await self._validate()
        result = await run(tables.summarize)
        await run(tables.finish_scan, result)
        logger.info(
            "campaign %s scanned: %d rows appended, %d rows in all",
            self._store.spec.campaign_id,
            appended,
            result.rows,
        )
        return result

    # Stage 2: the SIMs and Fleets rows name

    async def _snapshot(self) -> None:
        if not self._is_filter:
            await self._snapshot_sims()
        await self._snapshot_fleets()

    async def _snapshot_fleets(self) -> None:
        """The requester's Fleets; for a migration, those of every account in play too."""
        tables, run = self._tables, self._store.run
        own = await self._client.list_fleets()
        spec = self._store.spec
        if spec.action not in MIGRATION_ACTIONS:
            await run(tables.set_fleets, own)
            return
        destination = spec.migration.to_account if spec.migration is not None else None
        accounts = await run(tables.accounts)
        found = await list_account_fleets(self._settings, own, accounts, destination)
        await run(tables.set_fleets, found.fleets)
        await run(tables.set_account_check, sorted(found.listed), found.notes, found.problem)

    async def _snapshot_sims(self) -> None:
        tables, run = self._tables, self._store.run
        await run(tables.clear_snapshot)
        lookups = await run(tables.lookup_count)
        if lookups == 0:
            return
        wanted = await run(tables.wanted_sims, lookups)
        if await self._list_account(wanted, lookup_seconds=lookups / self._settings.api_max_rps):
            await self._record_names(await run(tables.ambiguous_names))
        else:
            await run(tables.clear_snapshot)
            await self._look_up_each()

    async def _fetch(self, reference: str) -> Sim | None:
        try:
            return await self._client.fetch_sim(reference)
        except NotFoundError:
            return None

    async def _record_names(self, names: Sequence[str]) -> None:
        """Ask the API which SIM each unique name is (the one its own resolution picks)."""
        sims = await self._gather_in_groups(names, self._fetch, "names")
        await self._store.run(self._tables.add_sims, [sim for sim in sims if sim is not None])
        await self._store.run(
            self._tables.record_names,
            [(name, sim.sid if sim else None) for name, sim in zip(names, sims, strict=True)],
        )

    async def _look_up_each(self) -> None:
        tables, run = self._tables, self._store.run
        by_sid = await self._gather_in_groups(
            await run(tables.references, ReferenceKind.SID), self._fetch, "sids"
        )
        by_iccid = await self._gather_in_groups(
            await run(tables.references, ReferenceKind.ICCID),
            self._client.find_sim_by_iccid,
            "iccids",
        )
        await run(tables.add_sims, [sim for sim in (*by_sid, *by_iccid) if sim is not None])
        # New unique names too: whoever holds one already would make the rename fail.
        names = {
            *await run(tables.references, ReferenceKind.UNIQUE_NAME),
            *await run(tables.new_unique_names),
        }
        await self._record_names(sorted(names))

    async def _list_account(self, wanted: WantedSims, lookup_seconds: float) -> bool:
        """List the account into the snapshot, keeping the SIMs rows may name (`wanted`); stop
        (`False`) once lookups would be quicker.

        The client asks for the next page while this one is parsed, and the snapshot writes
        `SNAPSHOT_BATCH` SIMs at a time while the listing goes on: the API prepares a page, this
        process reads one and the store writes earlier ones, all at once.
        """
        started = time.monotonic()
        listed = 0
        complete = False
        batch: list[SimSummary] = []
        writing: asyncio.Future[None] | None = None
        pages = self._client.list_sim_pages(page_size=self._page_size)
        try:
            async with aclosing(pages):
                async for page in pages:
                    more = (
                        page.next_page_url is not None
                        and time.monotonic() - started < lookup_seconds
                    )
                    batch.extend(filter(wanted.wants, page.sims))
                    listed += len(page.sims)
                    if len(batch) >= SNAPSHOT_BATCH or not more:
                        if writing is not None:
                            await writing
                        writing = asyncio.ensure_future(
                            self._store.run(self._tables.add_listed_sims, batch)
                        )
                        batch = []
                        if not more:
                            await writing
                            await self._store.run(self._tables.end_listing, commit=True)
                    self._progress("snapshot", listed)
                    if not more:
                        complete = page.next_page_url is None
                        break
            return complete
        finally:
            # A write still going when the listing stops or fails is not wanted any more (the
            # snapshot is taken again from its start); the store's thread rolls back what it has
            # not committed after the write it may be doing.
            if writing is not None:
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
            await self._store.run(self._tables.end_listing, commit=False)

    # Stage 3: every row checked and planned

    def _judge(self) -> RowJudge:
        own = [self._settings.twilio_account_sid] if self._settings.twilio_account_sid else []
        own += self._tables.listed_accounts()
        fleets = FleetIndex(self._tables.fleets(), own_accounts=own)
        spec = self._store.spec
        targets: Targets
        if spec.migration is not None:
            targets = MigrationTargets(spec.migration, fleets, self._tables.problem())
        elif spec.action is CampaignAction.ROLLBACK:
            targets = RollbackTargets(fleets)
        else:
            targets = ActionTargets(spec.action, spec.fleet, fleets)
        return RowJudge(targets, fleets)

    def _validate_chunk(self, judge: RowJudge, first_row: int, count: int) -> None:
        tables = self._tables
        end = first_row + count
        with tables.saving_verdicts(through=end - 1) as save:
            for start in range(first_row, end, self._judge_chunk_rows):
                rows = tables.resolved_rows(start, min(self._judge_chunk_rows, end - start))
                save(judge.judge_all(rows, tables.claims_before(rows, start)))

    async def _validate(self) -> None:
        run = self._store.run
        judge = await run(self._judge)
        total = await run(self._store.row_count)
        through = await run(self._tables.validated_through)
        while through < total:
            count = min(self._validate_chunk_rows, total - through)
            await run(self._validate_chunk, judge, through + 1, count)
            through += count
            self._progress("validate", through)


def _next_chunk(rows: Iterator[SourceRow]) -> list[SourceRow]:
    """The next `IMPORT_CHUNK` rows of a file (none at its end)."""
    return list(islice(rows, IMPORT_CHUNK))


def fleet_ref(fleet: Fleet) -> FleetRef:
    """A Fleet as the snapshot keeps it."""
    return FleetRef(fleet.sid, fleet.unique_name, fleet.account_sid)


def plan_summary(store: CampaignStore) -> DryRunPlan:
    """What the dry run prints: rows per planned change and per invalid reason, with the first
    row numbers of each, from one pass over the prepared rows (the store must be prepared)."""
    result = store.preparation.result()
    if result is None:
        raise CampaignStoreError(f"campaign {store.spec.campaign_id} is not prepared yet")
    tally = RowTally()
    for row in store.preparation.plan_rows():
        tally.add(row)
    return DryRunPlan(
        **result.model_dump(),
        campaign_id=store.spec.campaign_id,
        action=store.spec.action,
        changes=tally.changes(),
        invalid_reasons=tally.invalid_reasons(),
        notes=store.preparation.notes(),
        canary=store.canary(),
    )


async def prepare_for_dry_run(
    client: SuperSimClient,
    settings: SimopsSettings,
    store: CampaignStore,
    *,
    on_progress: Progress = no_progress,
) -> DryRunPlan:
    """Prepare a (scratch) campaign store with reads only, and summarize its plan."""
    await CampaignPreparer(client, settings, store, on_progress=on_progress).run()
    return plan_summary(store)
