"""A campaign's `--rate` and `--concurrency`, shared by the batch activities running now.

A batch spends requests only while one of its activities runs; between them it waits for
callbacks and spends nothing. Splitting the campaign's budget evenly between the batches in
flight therefore leaves the share of every waiting batch idle (and, at the end of a campaign,
the share of every batch already finished). Instead, each worker process paces all its running
batch activities of a campaign with one budget, and the processes divide the campaign's budget
between them in proportion to the activities each runs now.

The processes learn of each other through leases in the campaign store, which every worker
already shares: each process renews its lease (how many activities of the campaign it runs)
every `RENEW_SECONDS` and sizes its budget from the live leases. A process that dies stops
renewing, and its share returns to the others once its lease is older than `LEASE_SECONDS`.
When a process joins, the others learn of it at their next renewal: for up to `RENEW_SECONDS`
the campaign may run above its rate by the newcomer's share, which the client's adaptive limiter
absorbs should the API object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.database import DATABASE_ERRORS
from simops.supersim.pacing import RateBudget, RequestBudget

log = logging.getLogger(__name__)

RENEW_SECONDS = 0.5
"""How often a process renews its lease and resizes its budget while it runs activities."""
LEASE_SECONDS = 5.0
"""A lease not renewed for this long belongs to a process that is gone."""
UNPACED_RPS = 1e9
"""The rate of a campaign without `--rate`: only its concurrency paces it."""


class CampaignPacer:
    """The budget of one campaign in this process, resized to this process's share."""

    def __init__(
        self,
        store: CampaignStore,
        worker_id: str,
    ) -> None:
        self._store = store
        self._worker_id = worker_id
        spec = store.spec
        self._concurrency = spec.concurrency
        self._rate = spec.rate or UNPACED_RPS
        self.budget = RateBudget(self._concurrency, self._rate)
        self._running = 0
        self._renewing: asyncio.Task[None] | None = None

    @property
    def running(self) -> int:
        """How many activities of the campaign this process runs now."""
        return self._running

    @asynccontextmanager
    async def activity(self, priority: int) -> AsyncIterator[RequestBudget]:
        """Count one running activity for the body, and pace it with the shared budget.

        Requests of a lower `priority` are served first (see `RateBudget.prioritized`).
        """
        self._running += 1
        await self._try_renew()
        if self._renewing is None:
            self._renewing = asyncio.create_task(self._renew_while_running())
        try:
            yield self.budget.prioritized(priority)
        finally:
            self._running -= 1
            await self._try_renew()
            if not self._running and self._renewing is not None:
                self._renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._renewing
                self._renewing = None

    async def renew(self) -> float:
        """Renew this process's lease and resize the budget to its share; returns the share."""
        running_everywhere = await self._store.run(
            self._store.renew_pacing_lease,
            self._worker_id,
            self._running,
            lease_seconds=LEASE_SECONDS,
        )
        share = self._running / running_everywhere if running_everywhere else 1.0
        if self._running:
            self.budget.resize(max(1, round(self._concurrency * share)), self._rate * share)
        return share

    async def _try_renew(self) -> None:
        try:
            await self.renew()
        except DATABASE_ERRORS as error:
            # The budget keeps its last share and requests go on: pacing must not fail a batch.
            log.warning("campaign pacing lease not renewed: %s", error)

    async def _renew_while_running(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self._try_renew()
