"""The activities that keep `SIMOPS_MAX_RUNNING_CAMPAIGNS`: a campaign takes a place among its
account's running campaigns before it prepares, or waits queued in start order; it frees its
place when it ends, and tells the campaigns queued behind it.

A place is held in the store's account tables (`AccountStore.claim_slot`), so every worker of
every machine keeps the same cap. A campaign whose workflow ended without freeing its place (it
was terminated, or failed) would hold it for ever: before queueing a campaign behind a full
account, the claim asks Temporal whether each running campaign's workflow still runs, and frees
the places of those that do not.
"""

from __future__ import annotations

import logging

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from simops.campaigns.account_budget import AccountBudget
from simops.campaigns.store.accounts import AccountStore
from simops.contract import CAMPAIGN_SLOT_FREED_SIGNAL, campaign_workflow_id
from simops.messages import CampaignSlot, CampaignSlotRequest
from simops.runtime.settings import SimopsSettings

log = logging.getLogger(__name__)


class CampaignSlotActivities:
    """Places among an account's running campaigns, in the store's account tables."""

    def __init__(self, settings: SimopsSettings, account: AccountBudget) -> None:
        self._max_running = settings.max_running_campaigns
        self._account = account

    @activity.defn(name="claim_campaign_slot")
    async def claim_campaign_slot(self, request: CampaignSlotRequest) -> CampaignSlot:
        """Take a place among the account's running campaigns, or queue for one."""
        store = await self._account.accounts()
        account = self._account.account
        queued_at = request.started_at.timestamp() if request.started_at else None
        claim = await store.run(
            store.claim_slot, account, request.campaign_id, self._max_running, queued_at
        )
        if not claim.running and await self._free_ended(store, account):
            claim = await store.run(
                store.claim_slot, account, request.campaign_id, self._max_running, queued_at
            )
        return CampaignSlot(running=claim.running, ahead=claim.ahead, account=account)

    async def _free_ended(self, store: AccountStore, account: str) -> bool:
        """Free the places of running campaigns whose workflow no longer runs; whether any."""
        freed = False
        client = activity.client()
        for campaign_id in await store.run(store.running_campaigns, account):
            handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
            try:
                status = (await handle.describe()).status
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                status = None
            if status != WorkflowExecutionStatus.RUNNING:
                log.info(
                    "campaign %s no longer runs: its place on %s is free", campaign_id, account
                )
                await store.run(store.release_slot, account, campaign_id)
                freed = True
        return freed

    @activity.defn(name="release_campaign_slot")
    async def release_campaign_slot(self, request: CampaignSlotRequest) -> CampaignSlot:
        """Free the campaign's place, and tell each queued campaign of the account."""
        store = await self._account.accounts()
        account = self._account.account
        queued = await store.run(store.release_slot, account, request.campaign_id)
        client = activity.client()
        for campaign_id in queued:
            handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
            try:
                # By name: activities sit below the workflows and cannot import the campaign's.
                await handle.signal(CAMPAIGN_SLOT_FREED_SIGNAL)
            except RPCError as error:
                # A queued campaign also checks again on a timer: it is not lost.
                log.warning("could not tell queued campaign %s: %s", campaign_id, error)
        return CampaignSlot(running=False, account=account)
