"""The durable per-SIM record of a campaign's batch activities in one process: what simops is
about to write to a SIM (committed before the request), what came back, and how each SIM ended.

Every SIM of a round records through one journal, and the journal commits what they queued in one
transaction per turn of the event loop (a group commit), so durability before each write costs
one commit per few hundred SIMs, not one per SIM.

That commit is also the gate of every first write (`send`): it runs after any pacing wait,
immediately before the request, and refuses the write when the campaign is stopped (by any
process) or holds it back when the campaign is on hold (paused, outside its windows). A first
write still waiting for its turn when this process learns of a stop or a hold is withdrawn
without waiting longer. So after a stop is recorded, only the first writes already on the wire
(at most the campaign's concurrency: each holds a first-write slot) reach the API, whatever
the rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from simops.campaigns.rows import RowOutcome, TrackedSim
from simops.campaigns.store.campaign_store import CampaignStore, JournalCommit, JournalEntries
from simops.runtime.slots import PrioritySlots
from simops.supersim.transport import BeforeSend

T = TypeVar("T")


class WriteWithheld(Exception):
    """A first write that was not sent: the campaign stopped (`held` false) or is on hold."""

    def __init__(self, reason: str, *, held: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.held = held


class SimJournal:
    """One campaign's journal in this process, shared by all its running batch activities."""

    def __init__(
        self,
        store: CampaignStore,
        first_write_limit: Callable[[], int],
        stop_reason: str | None,
        hold_reason: str | None = None,
    ) -> None:
        """A journal of `store`, for a campaign stopped for `stop_reason` (`None`: running)
        and on hold for `hold_reason` (`None`: first writes may go)."""
        self._store = store
        self._stop_reason: str | None = None
        self._hold_reason: str | None = None
        self._stopped = asyncio.Event()
        self._waiting_to_send: set[asyncio.Task[Any]] = set()
        self._withdrawn: set[asyncio.Task[Any]] = set()
        if stop_reason is not None:
            self._learn_stop(stop_reason, recorded=True)
        self._set_hold(hold_reason)
        self._tracked: dict[int, TrackedSim] = {}
        self._ended: dict[int, RowOutcome] = {}
        self._first_writes: set[int] = set()
        self._new_stop: str | None = None
        self._new_stop_row: int | None = None
        self._next_commit: asyncio.Future[JournalCommit] | None = None
        self._committing: asyncio.Task[None] | None = None
        self._first_write_slots = PrioritySlots(lambda: max(1, first_write_limit()))
        self._error: Exception | None = None

    @property
    def broken(self) -> bool:
        """Whether a commit failed: what it held is lost, so the journal must not be reused."""
        return self._error is not None

    @property
    def stop_reason(self) -> str | None:
        """Why the campaign takes no new first write, as far as this process knows."""
        return self._stop_reason

    @property
    def hold_reason(self) -> str | None:
        """Why first writes wait for now (paused, outside a window), as far as this process
        knows; `None` when they may go."""
        return self._hold_reason

    def stop(self, reason: str, row_no: int | None = None) -> None:
        """Stop new first writes at once in this process, and in the others at their next
        commit (the reason is committed with the next group); `row_no`: the row whose SIM met
        the error (the store words the reason of a canary row's)."""
        if self._stop_reason is None:
            self._learn_stop(reason)
            self._new_stop = reason
            self._new_stop_row = row_no
            self._schedule()

    def hold(self, reason: str | None) -> None:
        """Hold new first writes in this process (`None`: let them go again), as the store
        already says for every process."""
        self._set_hold(reason)

    async def refresh(self) -> None:
        """Learn from the store whether another process stopped or held the campaign."""
        stop_reason, hold_reason = await self._store.run(self._store.controls)
        if stop_reason is not None:
            self._learn_stop(stop_reason, recorded=True)
        self._set_hold(hold_reason)

    async def wait_stopped(self) -> str:
        """Wait until this process knows the store recorded a stop; its reason."""
        await self._stopped.wait()
        return self._stop_reason or "the campaign stopped"

    async def send(self, intent: TrackedSim, request: Callable[[BeforeSend], Awaitable[T]]) -> T:
        """Send a SIM's first write: `request` is called with the gate it must pass once its
        turn comes (after any pacing wait); raises `WriteWithheld` when the campaign stopped
        or went on hold before the request passed the gate.

        Until it passes the gate, the calling task is withdrawn (cancelled, and the
        cancellation taken back here) as soon as this process learns of a stop or a hold: it
        may be waiting for its turn under the rate, which can be long. No task is created per
        write: this runs for every SIM.
        """
        self._raise_if_withheld()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a first write is sent from a task")

        async def gate() -> None:
            self._raise_if_withheld()
            commit = await self._intend(intent, first=True)
            if intent.row_no in commit.refused:
                raise WriteWithheld(commit.stop_reason or "the campaign stopped", held=False)
            if intent.row_no in commit.held:
                raise WriteWithheld(commit.hold_reason or "on hold", held=True)
            # Past the gate the request goes out: it is never withdrawn from here on.
            self._waiting_to_send.discard(task)

        self._waiting_to_send.add(task)
        try:
            return await request(gate)
        except asyncio.CancelledError:
            if task not in self._withdrawn:
                raise
            self._withdrawn.discard(task)
            task.uncancel()
            self._raise_if_withheld()
            raise RuntimeError("a first write was withdrawn without a stop or a hold") from None
        finally:
            self._waiting_to_send.discard(task)

    def _withdraw_waiting(self) -> None:
        """Withdraw every first write still waiting for the gate (a stop or a hold came)."""
        for task in self._waiting_to_send:
            self._withdrawn.add(task)
            task.cancel()
        self._waiting_to_send.clear()

    async def intend(self, sim: TrackedSim) -> None:
        """Record durably that `sim.pending_write` (not a first write) is about to be sent."""
        await self._intend(sim, first=False)

    def _raise_if_withheld(self) -> None:
        if self._stop_reason is not None:
            raise WriteWithheld(self._stop_reason, held=False)
        if self._hold_reason is not None:
            raise WriteWithheld(self._hold_reason, held=True)

    async def _intend(self, sim: TrackedSim, *, first: bool) -> JournalCommit:
        self._tracked[sim.row_no] = sim
        if first:
            self._first_writes.add(sim.row_no)
        return await asyncio.shield(self._schedule())

    def _learn_stop(self, reason: str, *, recorded: bool = False) -> None:
        """Take `reason` as the stop's: at once for this process's first writes, and once
        `recorded` (read from the store, where the first reason holds for every process) as
        the reason the campaign is told."""
        if self._stop_reason is None or recorded:
            self._stop_reason = reason
            self._withdraw_waiting()
        if recorded:
            self._stopped.set()

    def _set_hold(self, reason: str | None) -> None:
        self._hold_reason = reason
        if reason is not None:
            self._withdraw_waiting()

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
    async def first_write_slot(self, priority: int) -> AsyncIterator[None]:
        """Hold one of the campaign's first-write slots in this process for the body; a lower
        `priority` goes first (the SIM's row: an older batch's SIMs before a newer one's, so
        that a batch ends its writes, and reads its SIMs back, before the next one, rather
        than every batch of the window waiting on its last write until the campaign's end)."""
        await self._first_write_slots.acquire(priority)
        try:
            yield
        finally:
            self._first_write_slots.release()

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
                self._learn_stop(result.stop_reason, recorded=True)
            elif result.hold_reason != self._hold_reason:
                self._set_hold(result.hold_reason)
            commit.set_result(result)
