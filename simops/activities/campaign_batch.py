"""The activities of a campaign batch: thin wrappers over `campaigns.stepper.BatchStepper`.

`start_batch` takes the first step of every row of a range; `settle_batch` takes the next step
of the SIMs still in progress (those that called back, or all of them as polling). Every write is
recorded before it is sent and every outcome as it arrives (`campaigns/journal.py`), so a retried
attempt resumes from the store and the report is current. One SIM's trouble never fails the
activity: a transient error leaves it in progress for the next round. A campaign store that is
missing or unreadable fails the activity for good (`STORE_UNUSABLE`), with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from simops.callbacks.urls import callback_url
from simops.campaigns.account_budget import AccountBudget
from simops.campaigns.journal import SimJournal
from simops.campaigns.rows import BillingPeriodReading, RowOutcome, TrackedSim
from simops.campaigns.spec import MIGRATION_ACTIONS, CampaignSpec
from simops.campaigns.stepper import (
    BatchStepper,
    ReadingRecorder,
    ended,
    invalid,
    settle_pending_write,
    track,
    with_recorded_periods,
)
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.database import CONNECTION_ERRORS, DATABASE_ERRORS, is_transient
from simops.campaigns.store.errors import CampaignStoreError
from simops.contract import CAMPAIGN_STOPPED_SIGNAL
from simops.core.sim import OutcomeKind, SimSnapshot
from simops.messages import (
    BatchStepRequest,
    BatchStepResult,
    CampaignCounts,
    CampaignRowsRequest,
    CampaignStopNotice,
    CanaryRows,
)
from simops.observability import metrics
from simops.runtime import malloc_arenas
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import SuperSimError, mask_iccids
from simops.supersim.pacing import RateBudget

HEARTBEAT_INTERVAL_SECONDS = 2.0
"""Well inside the batch activities' heartbeat timeout, so a dead worker is noticed quickly."""

STORE_UNUSABLE = "CampaignStoreUnusable"
"""The error type of an activity whose campaign store is missing or corrupt: not retried."""

ANNOUNCE_TIMEOUT_SECONDS = 10.0
"""How long a round that saw its campaign stop waits for the campaign to be told."""

T = TypeVar("T")
log = logging.getLogger(__name__)


@asynccontextmanager
async def _finishing(announcing: asyncio.Task[None], journal: SimJournal) -> AsyncIterator[None]:
    """Let `announcing` tell the campaign of a stop the body saw; else drop it at the end."""
    try:
        yield
    finally:
        if journal.stop_reason is None:
            announcing.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(announcing, ANNOUNCE_TIMEOUT_SECONDS)


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs: a worker that dies mid-batch is then
    detected within the heartbeat timeout, not the (long) start-to-close timeout."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


@contextlib.contextmanager
def store_errors_are_final(campaign_id: str) -> Iterator[None]:
    """Turn a missing or corrupt campaign store into a non-retryable error naming it: retrying
    cannot mend it. A busy or locked database stays retryable.

    Any other failure leaves as an `ApplicationError` whose message has every ICCID masked and
    no chained cause: a failure is kept in the workflow's history, where no full ICCID may be.
    """
    try:
        yield
    except ApplicationError:
        raise
    except Exception as error:
        if isinstance(error, (CampaignStoreError, *DATABASE_ERRORS)) and not is_transient(error):
            raise ApplicationError(
                mask_iccids(f"the store of campaign {campaign_id} cannot be used: {error}"),
                type=STORE_UNUSABLE,
                non_retryable=True,
            ) from None
        raise ApplicationError(mask_iccids(str(error)), type=type(error).__name__) from None


LANES_PER_REQUEST = 2
"""A round's SIMs in progress at once, per request the campaign may have in flight. Twice, so
that a batch whose every lane holds a request still has SIMs waiting when one is answered: with
one lane per request, the freed slot went to the next batch, and interleaved batches made the
ingress send about 5 % more signals (more Temporal CPU per SIM, `make bench`)."""


class CampaignBatchActivities:
    """Batch activities over one shared, paced client and the campaign stores."""

    def __init__(
        self, client: SuperSimClient, settings: SimopsSettings, account: AccountBudget
    ) -> None:
        self._client = client
        self._settings = settings
        self._account = account
        self._stores: dict[str, CampaignStore] = {}
        self._journals: dict[str, SimJournal] = {}
        self._stops_announced: set[str] = set()
        self._in_use: Counter[str] = Counter()
        self._last_used: dict[str, float] = {}

    async def store(self, campaign_id: str) -> CampaignStore:
        """The campaign's store, opened once per process (off the event loop)."""
        store = self._stores.get(campaign_id)
        if store is None:
            opened = await asyncio.to_thread(
                CampaignStore.open, store_backend(self._settings), campaign_id
            )
            # Another activity may have opened it meanwhile: one store per campaign stays.
            store = self._stores.setdefault(campaign_id, opened)
            if store is not opened:
                await asyncio.to_thread(opened.close)
        return store

    async def forget_store(self, campaign_id: str) -> None:
        """Drop the campaign's store and journal (its connection was lost): the next activity
        opens them again."""
        store = self._stores.pop(campaign_id, None)
        self._journals.pop(campaign_id, None)
        if store is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                await asyncio.to_thread(store.close)

    def campaign_budget(self, spec: CampaignSpec) -> RateBudget:
        """The campaign's budget in this process, shared by its running batch activities."""
        known = self._account.campaign_budget(
            spec.campaign_id, weight=spec.weight, rate=spec.rate, concurrency=spec.concurrency
        )
        metrics.BUDGETS.watch("campaign", spec.campaign_id, known)
        return known

    async def journal(self, campaign_id: str) -> SimJournal:
        """The campaign's journal in this process (a new one after a failed commit)."""
        journal = self._journals.get(campaign_id)
        if journal is None or journal.broken:
            store = await self.store(campaign_id)
            budget = self.campaign_budget(store.spec)
            stop_reason, hold_reason = await store.run(store.controls)
            journal = self._journals.get(campaign_id)
            if journal is None or journal.broken:
                journal = SimJournal(
                    store, lambda: budget.max_concurrency, stop_reason, hold_reason
                )
                self._journals[campaign_id] = journal
        else:
            await journal.refresh()
        return journal

    def _callback_url(self, workflow_id: str) -> str | None:
        secret = self._settings.callback_secret
        base_url = self._settings.callback_base_url
        if secret is None or not base_url:
            return None
        return callback_url(base_url, secret.get_secret_value(), workflow_id)

    async def _guarded(self, campaign_id: str, body: Callable[[], Awaitable[T]]) -> T:
        await self._close_idle_stores()
        self._in_use[campaign_id] += 1
        try:
            with store_errors_are_final(campaign_id):
                try:
                    return await body()
                except CONNECTION_ERRORS:
                    # Retried with a new connection: the database may be back by then.
                    await self.forget_store(campaign_id)
                    raise
        finally:
            self._in_use[campaign_id] -= 1
            self._last_used[campaign_id] = time.monotonic()

    async def _close_idle_stores(self) -> None:
        """Close the stores of campaigns no activity has used for `store_idle_seconds`, once
        their journals committed what they hold: a worker that runs campaign after campaign
        would otherwise keep every one's connection, thread and page cache for good."""
        now = time.monotonic()
        idle = [
            campaign_id
            for campaign_id in self._stores
            if self._in_use[campaign_id] == 0
            and now - self._last_used.get(campaign_id, now) > self._settings.store_idle_seconds
        ]
        for campaign_id in idle:
            journal = self._journals.get(campaign_id)
            if journal is not None:
                with contextlib.suppress(*DATABASE_ERRORS, CampaignStoreError):
                    await journal.flush()
            if self._in_use[campaign_id] == 0:
                del self._in_use[campaign_id]
                self._last_used.pop(campaign_id, None)
                await self.forget_store(campaign_id)
        if idle:
            await asyncio.to_thread(malloc_arenas.release_free_memory)

    @activity.defn(name="start_batch")
    async def start_batch(self, request: BatchStepRequest) -> BatchStepResult:
        """Take the first step of every row of the range that has not ended yet; a retry
        resumes each SIM from what the store recorded of it."""
        async with heartbeating():
            return await self._guarded(request.campaign_id, lambda: self._start(request))

    async def _start(self, request: BatchStepRequest) -> BatchStepResult:
        store = await self.store(request.campaign_id)
        first_row, row_count, only = request.first_row, request.row_count, request.row_nos
        rows = await store.run(store.planned_rows, first_row, row_count, only)
        ended_before = await store.run(store.finished_rows, first_row, row_count, only)
        recorded = {
            sim.row_no: sim
            for sim in await store.run(store.in_progress, first_row, row_count, row_nos=only)
        }
        todo = [row for row in rows if row.row_no not in ended_before]
        invalid_rows = [invalid(row) for row in todo if row.invalid_reason is not None]
        # A SIM the store knows of was touched by an earlier attempt: it resumes from there
        # (read again only when a write's answer was lost); the others start from the
        # snapshot taken when the campaign was prepared.
        tracked = [
            recorded.get(row.row_no) or track(row) for row in todo if row.invalid_reason is None
        ]
        await store.run(store.record_outcomes, invalid_rows)
        result = await self._advance_all(request, tracked, fresh=False)
        result.ended[OutcomeKind.INVALID] = result.ended.get(OutcomeKind.INVALID, 0) + len(
            invalid_rows
        )
        return result

    @activity.defn(name="settle_batch")
    async def settle_batch(self, request: BatchStepRequest) -> BatchStepResult:
        """Read the SIMs still in progress (those named, or all) and take their next steps."""

        async def settle() -> BatchStepResult:
            store = await self.store(request.campaign_id)
            tracked = await store.run(
                store.in_progress,
                request.first_row,
                request.row_count,
                request.sim_sids,
                request.row_nos,
            )
            return await self._advance_all(request, tracked, fresh=True)

        async with heartbeating():
            return await self._guarded(request.campaign_id, settle)

    @activity.defn(name="cancel_rows")
    async def cancel_rows(self, request: CampaignRowsRequest) -> CampaignCounts:
        """Mark every row that has not ended as cancelled; the campaign's final counts."""

        async def cancel() -> CampaignCounts:
            store = await self.store(request.campaign_id)
            await store.run(
                store.cancel_unfinished, request.reason or "cancelled", request.first_row
            )
            return CampaignCounts(counts=await store.run(store.counts))

        return await self._guarded(request.campaign_id, cancel)

    @activity.defn(name="campaign_counts")
    async def campaign_counts(self, request: CampaignRowsRequest) -> CampaignCounts:
        """Outcome counts of the campaign's rows."""

        async def count() -> CampaignCounts:
            store = await self.store(request.campaign_id)
            return CampaignCounts(counts=await store.run(store.counts))

        return await self._guarded(request.campaign_id, count)

    @activity.defn(name="stop_campaign")
    async def stop_campaign(self, request: CampaignRowsRequest) -> CampaignCounts:
        """Stop new first writes in every batch and worker (cancel, pause for good); counts."""

        async def stop() -> CampaignCounts:
            store = await self.store(request.campaign_id)
            reason = await store.run(store.stop, request.reason or "stopped")
            journal = self._journals.get(request.campaign_id)
            if journal is not None:
                journal.stop(reason)
            return CampaignCounts(counts=await store.run(store.counts))

        return await self._guarded(request.campaign_id, stop)

    @activity.defn(name="hold_campaign")
    async def hold_campaign(self, request: CampaignRowsRequest) -> CampaignCounts:
        """Hold every new first write in every batch and worker for `request.reason` (paused,
        outside the windows), or let them go again when it is `None`; counts."""

        async def hold() -> CampaignCounts:
            store = await self.store(request.campaign_id)
            await store.run(store.hold, request.reason)
            journal = self._journals.get(request.campaign_id)
            if journal is not None:
                journal.hold(request.reason)
            return CampaignCounts(counts=await store.run(store.counts))

        return await self._guarded(request.campaign_id, hold)

    @activity.defn(name="fail_unfinished_rows")
    async def fail_unfinished_rows(self, request: CampaignRowsRequest) -> CampaignCounts:
        """End `failed` (with the reason) every row of a range whose batch could not finish,
        with what the store knows the campaign did to its SIM."""

        async def fail() -> CampaignCounts:
            store = await self.store(request.campaign_id)
            first_row = request.first_row
            count = request.row_count or max(await store.run(store.row_count) - first_row + 1, 0)
            only = request.row_nos
            finished = await store.run(store.finished_rows, first_row, count, only)
            recorded = {
                sim.row_no: sim
                for sim in await store.run(store.in_progress, first_row, count, row_nos=only)
            }
            reason = request.reason or "the batch could not finish"
            outcomes: list[RowOutcome] = []
            for row in await store.run(store.planned_rows, first_row, count, only):
                if row.row_no in finished:
                    continue
                if row.invalid_reason is not None:
                    outcomes.append(invalid(row))
                    continue
                sim = recorded.get(row.row_no) or track(row)
                if sim.pending_write is not None:
                    # A run died between recording a write and hearing its answer: the SIM
                    # tells whether it was made, so the report counts it truthfully.
                    sim = await self._settled(sim)
                outcomes.append(ended(sim, OutcomeKind.FAILED, message=reason))
            await store.run(store.record_outcomes, outcomes)
            return CampaignCounts(counts=await store.run(store.counts))

        return await self._guarded(request.campaign_id, fail)

    async def _announce_stop(self, request: BatchStepRequest, journal: SimJournal) -> None:
        """Tell the campaign workflow as soon as this process learns that the campaign stopped
        (a systemic error, its failure threshold, a canary): its status shows it within a
        moment, not when the batch ends."""
        reason = await journal.wait_stopped()
        workflow_id = request.campaign_workflow_id
        if workflow_id is None or request.campaign_id in self._stops_announced:
            return
        self._stops_announced.add(request.campaign_id)
        try:
            handle = activity.client().get_workflow_handle(workflow_id)
            # By name: activities sit below the workflows and cannot import the campaign's.
            await handle.signal(CAMPAIGN_STOPPED_SIGNAL, CampaignStopNotice(reason=reason))
        except (RPCError, RuntimeError) as error:
            # The batch's result carries the stop too: the campaign learns it then.
            log.warning("could not tell campaign %s it stopped: %s", request.campaign_id, error)

    @activity.defn(name="canary_rows")
    async def canary_rows(self, request: CampaignRowsRequest) -> CanaryRows:
        """The canary's rows: the first SIMs (by row number) of every path the plan has."""

        async def rows() -> CanaryRows:
            store = await self.store(request.campaign_id)
            return CanaryRows(row_nos=sorted(await store.run(store.canary_paths)))

        return await self._guarded(request.campaign_id, rows)

    async def _settled(self, sim: TrackedSim) -> TrackedSim:
        try:
            read = SimSnapshot.of(await self._client.fetch_sim(sim.sim_sid))
        except SuperSimError as error:
            note = f"a write may have been made; the SIM could not be read: {error.message}"
            return sim.model_copy(update={"note": "; ".join(filter(None, [sim.note, note]))})
        return settle_pending_write(sim, read)

    async def _advance_all(
        self, request: BatchStepRequest, tracked: list[TrackedSim], *, fresh: bool
    ) -> BatchStepResult:
        url = self._callback_url(request.callback_workflow_id)
        store = await self.store(request.campaign_id)
        journal = await self.journal(request.campaign_id)
        recorder: ReadingRecorder | None = None
        if store.spec.action in MIGRATION_ACTIONS:

            async def recorder(row_no: int, reading: BillingPeriodReading) -> None:
                await store.run(store.record_billing_period, row_no, reading)

            tracked = await with_recorded_periods(store, tracked)
        spec = store.spec
        announcing = asyncio.create_task(self._announce_stop(request, journal))
        drawing = self._account.campaign(
            spec.campaign_id,
            weight=spec.weight,
            rate=spec.rate,
            concurrency=spec.concurrency,
            # Older batches first: their SIMs are the closest to ending.
            priority=request.first_row,
        )
        async with drawing as budget, _finishing(announcing, journal):
            stepper = BatchStepper(
                self._client.paced_by(budget),
                url,
                journal,
                final=request.final,
                compensate=store.spec.compensate,
                record_reading=recorder,
            )
            results = await stepper.advance_all(
                tracked, fresh=fresh, lanes=LANES_PER_REQUEST * spec.concurrency
            )
            ended_rows = [result for result in results if isinstance(result, RowOutcome)]
            pending = [result for result in results if isinstance(result, TrackedSim)]
            for sim in pending:
                journal.note(sim)
            await journal.flush()
            read_again = stepper.read_again
            held = stepper.held
        return BatchStepResult(
            pending_sims=[sim.sim_sid for sim in pending],
            ended=dict(Counter(outcome.outcome for outcome in ended_rows)),
            stop_reason=journal.stop_reason,
            read_again_sims=[sim.sim_sid for sim in pending if sim.sim_sid in read_again],
            held_sims=[sim.sim_sid for sim in pending if sim.sim_sid in held],
        )
