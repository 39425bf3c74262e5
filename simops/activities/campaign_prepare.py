"""The activity that prepares a campaign: a thin wrapper over
`simops.campaigns.preparer.CampaignPreparer`, heartbeating its progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from simops.activities.sims import as_application_error
from simops.campaigns.account_budget import AccountBudget
from simops.campaigns.preparer import CampaignPreparer
from simops.campaigns.rows import PrepareResult
from simops.campaigns.sources import SourceError
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignNotFoundError, CampaignStoreError
from simops.messages import PrepareRequest
from simops.runtime import malloc_arenas
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import SuperSimError

CAMPAIGN_NOT_FOUND = "CampaignNotFound"


def heartbeat(stage: str, done: int) -> None:
    """Tell Temporal the activity is alive (and how far it got)."""
    activity.heartbeat({"stage": stage, "done": done})


class CampaignPrepareActivities:
    """The preparing activity, over the worker's shared client and settings."""

    def __init__(
        self, client: SuperSimClient, settings: SimopsSettings, account: AccountBudget
    ) -> None:
        self._client = client
        self._settings = settings
        self._account = account

    @activity.defn(name="prepare_campaign")
    async def prepare_campaign(self, request: PrepareRequest) -> PrepareResult:
        """Import, resolve, validate and plan every row of the campaign (reads only)."""
        return await self._with_preparer(request, CampaignPreparer.run)

    @activity.defn(name="scan_campaign")
    async def scan_campaign(self, request: PrepareRequest) -> PrepareResult:
        """A continuous campaign's scan: append the SIMs its filter matches that are not yet
        its rows, validated and planned like any row (reads only); the counts of all rows."""
        return await self._with_preparer(request, CampaignPreparer.scan)

    async def _with_preparer(
        self,
        request: PrepareRequest,
        work: Callable[[CampaignPreparer], Awaitable[PrepareResult]],
    ) -> PrepareResult:
        """`work` done by a preparer of the campaign's store, drawing from its account's
        budget; a bad source or a broken store fails for good, API errors as the API says."""
        try:
            store = await asyncio.to_thread(
                CampaignStore.open, store_backend(self._settings), request.campaign_id
            )
        except CampaignNotFoundError as error:
            raise ApplicationError(
                str(error), type=CAMPAIGN_NOT_FOUND, non_retryable=True
            ) from None
        spec = store.spec
        # Preparation's reads draw from the account's budget as the campaign's own.
        drawing = self._account.campaign(
            spec.campaign_id,
            weight=spec.weight,
            rate=spec.rate,
            concurrency=spec.concurrency,
            priority=0,
        )
        try:
            async with drawing as budget:
                return await work(
                    CampaignPreparer(
                        self._client.paced_by(budget), self._settings, store, on_progress=heartbeat
                    )
                )
        except (SourceError, CampaignStoreError) as error:
            # A bad file or a broken store stays so: retrying cannot help.
            kind = type(error).__name__
            raise ApplicationError(str(error), type=kind, non_retryable=True) from None
        except SuperSimError as error:
            raise as_application_error(error) from error
        finally:
            await asyncio.to_thread(store.close)
            # The listing's pages and the snapshot's chunks are freed by now: without this the
            # worker keeps their peak, and the next campaign's preparation peaks on top of it.
            await asyncio.to_thread(malloc_arenas.release_free_memory)
