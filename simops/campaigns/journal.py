"""The durable per-SIM record of a campaign's batch activities in one process: what simops is
about to write to a SIM (committed before the request), what came back, and how each SIM ended.

Every SIM of a round records through one journal, and the journal commits what they queued in one
transaction per turn of the event loop (a group commit), so durability before each write costs
one commit per few hundred SIMs, not one per SIM. The same commit refuses a SIM's first write when
the campaign is stopped (by any process), and a first write waits for a slot of at most the
campaign's concurrency: after a stop, at most that many SIMs can still get a first write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from simops.campaigns.rows import RowOutcome, TrackedSim
from simops.campaigns.store.campaign_store import CampaignStore, JournalCommit, JournalEntries


class SimJournal:
    """One campaign's journal in this process, shared by all its running batch activities."""

    def __init__(
        self,
        store: CampaignStore,
        first_write_limit: Callable[[], int],
        stop_reason: str | None,
    ) -> None:
        """A journal of `store`, for a campaign stopped for `stop_reason` (`None`: running)."""
        self._store = store
        self._first_write_limit = first_write_limit
        self._stop_reason = stop_reason
        self._tracked: dict[int, TrackedSim] = {}
        self._ended: dict[int, RowOutcome] = {}
        self._first_writes: set[int] = set()
        self._new_stop: str | None = None
        self._new_stop_row: int | None = None
        self._next_commit: asyncio.Future[JournalCommit] | None = None
        self._committing: asyncio.Task[None] | None = None
        self._first_writes_in_flight = 0
        self._slot_freed = asyncio.Condition()
        self._error: Exception | None = None

    @property
    def broken(self) -> bool:
        """Whether a commit failed: what it held is lost, so the journal must not be reused."""
        return self._error is not None

    @property
    def stop_reason(self) -> str | None:
        """Why the campaign takes no new first write, as far as this process knows."""
        return self._stop_reason

    def stop(self, reason: str, row_no: int | None = None) -> None:
        """Stop new first writes at once in this process, and in the others at their next
        commit (the reason is committed with the next group); `row_no`: the row whose SIM met
        the error (the store words the reason of a canary row's)."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self._new_stop = reason
            self._new_stop_row = row_no
            self._schedule()

    async def intend(self, sim: TrackedSim, *, first: bool) -> bool:
        """Record durably that `sim.pending_write` is about to be sent; whether it may be (a
        first write is refused once the campaign is stopped)."""
        if first and self._stop_reason is not None:
            return False
        self._tracked[sim.row_no] = sim
        if first:
            self._first_writes.add(sim.row_no)
        commit = await asyncio.shield(self._schedule())
        return sim.row_no not in commit.refused

    def note(self, sim: TrackedSim) -> None:
        """Record what is known of a SIM in progress, with the next commit (not awaited: a
        crash before it leaves the write pending, and the SIM is then read again)."""
        self._tracked[sim.row_no] = sim
        self._schedule()

    def ended(self, outcome: RowOutcome) -> None:
        """Record how a SIM ended, with the next commit (`flush` waits for it)."""
        self._tracked.pop(outcome.row_no, None)
        self._ended[outcome.row_no] = outcome
        self._schedule()

    async def flush(self) -> None:
        """Wait until everything recorded so far is committed; raise if a commit failed."""
        while self._next_commit is not None or (
            self._committing is not None and not self._committing.done()
        ):
            if self._next_commit is not None:
                await asyncio.shield(self._next_commit)
            elif self._committing is not None:
                await asyncio.shield(self._committing)
        if self._error is not None:
            raise self._error

    @asynccontextmanager
    async def first_write_slot(self) -> AsyncIterator[None]:
        """Hold one of the campaign's first-write slots in this process for the body."""
        async with self._slot_freed:
            await self._slot_freed.wait_for(
                lambda: self._first_writes_in_flight < max(1, self._first_write_limit())
            )
            self._first_writes_in_flight += 1
        try:
            yield
        finally:
            async with self._slot_freed:
                self._first_writes_in_flight -= 1
                self._slot_freed.notify()

    def _schedule(self) -> asyncio.Future[JournalCommit]:
        if self._next_commit is None:
            self._next_commit = asyncio.get_running_loop().create_future()
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_while_queued())
        return self._next_commit

    async def _commit_while_queued(self) -> None:
        while self._next_commit is not None:
            # One turn of the loop lets every SIM of the round queue its record first.
            await asyncio.sleep(0)
            commit, self._next_commit = self._next_commit, None
            entries = JournalEntries(
                tracked=list(self._tracked.values()),
                ended=list(self._ended.values()),
                first_writes=sorted(self._first_writes),
                stop_reason=self._new_stop,
                stop_row=self._new_stop_row,
            )
            self._tracked, self._ended, self._first_writes = {}, {}, set()
            self._new_stop, self._new_stop_row = None, None
            try:
                # On the store's thread: SIMs of the next group queue while this one commits.
                result = await self._store.run(self._store.commit_journal, entries)
            except Exception as error:
                self._error = error
                commit.set_exception(error)
                # Retrieved by every waiter; marked retrieved so that a commit nobody awaited
                # (`note`, `ended`) does not log "exception never retrieved".
                commit.exception()
                continue
            if result.stop_reason is not None:
                # The recorded reason holds for every process, over the one this one met.
                self._stop_reason = result.stop_reason
            commit.set_result(result)
