"""The activity that prepares a campaign: a thin wrapper over
`simops.campaigns.preparer.CampaignPreparer`, heartbeating its progress.
"""

from __future__ import annotations

import asyncio

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
                return await CampaignPreparer(
                    self._client.paced_by(budget), self._settings, store, on_progress=heartbeat
                ).run()
        except (SourceError, CampaignStoreError) as error:
            # A bad file or a broken store stays so: retrying cannot help.
            kind = type(error).__name__
            raise ApplicationError(str(error), type=kind, non_retryable=True) from None
        except SuperSimError as error:
            raise as_application_error(error) from error
        finally:
            await asyncio.to_thread(store.close)
