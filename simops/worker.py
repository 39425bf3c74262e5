"""The simops worker: workflows, activities, task queue and API budget, from configuration."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from simops.activities.campaign_batch import CampaignBatchActivities
from simops.activities.campaign_prepare import CampaignPrepareActivities
from simops.activities.campaign_slots import CampaignSlotActivities
from simops.activities.notifications import NotificationActivities
from simops.activities.sims import SimActivities
from simops.campaigns.account_budget import AccountBudget, AccountDefaults
from simops.campaigns.store.backends import store_backend
from simops.observability.health import Readiness, worker_polling
from simops.observability.tracing import client_interceptors
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import connect_when_up
from simops.supersim.accounts import account_key
from simops.supersim.client import SuperSimClient
from simops.supersim.pacing import budgets_for
from simops.workflows.campaign import CampaignWorkflow
from simops.workflows.campaign_batch import CampaignBatchWorkflow
from simops.workflows.campaign_notifier import CampaignNotifierWorkflow
from simops.workflows.sandbox import WORKFLOW_RUNNER
from simops.workflows.sim_operation import SimOperationWorkflow

log = logging.getLogger(__name__)

WORKFLOWS: list[type] = [
    SimOperationWorkflow,
    CampaignWorkflow,
    CampaignBatchWorkflow,
    CampaignNotifierWorkflow,
]


def account_budget(settings: SimopsSettings) -> AccountBudget:
    """This process's part of the configured account's API budget (its store opened on first
    use)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return AccountBudget(
        store_backend(settings).accounts,
        account_key(settings),
        holder,
        budgets_for(settings),
        AccountDefaults.from_settings(settings),
    )


def build_worker(
    client: Client, settings: SimopsSettings, api: SuperSimClient, account: AccountBudget
) -> Worker:
    """A worker for every simops workflow and activity on the configured task queue.

    `max_task_queue_activities_per_second` caps API-calling activities for the whole task queue
    (every worker process together); the account's budget (`account`) paces their requests.
    """
    sims = SimActivities(api, settings, account)
    batches = CampaignBatchActivities(api, settings, account)
    prepare = CampaignPrepareActivities(api, settings, account)
    slots = CampaignSlotActivities(settings, account)
    notifications = NotificationActivities(settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        activities=[
            sims.fetch_sim,
            sims.poll_until_settled,
            sims.resolve_fleet,
            sims.apply_update,
            batches.start_batch,
            batches.settle_batch,
            batches.cancel_rows,
            batches.campaign_counts,
            batches.stop_campaign,
            batches.hold_campaign,
            batches.fail_unfinished_rows,
            batches.canary_rows,
            prepare.prepare_campaign,
            prepare.scan_campaign,
            slots.claim_campaign_slot,
            slots.release_campaign_slot,
            notifications.notify_targets,
            notifications.collect_ended_rows,
            notifications.deliver_event,
        ],
        max_concurrent_activities=settings.api_max_concurrency * 2,
        max_task_queue_activities_per_second=settings.api_max_rps,
        # A deploy lets running batch activities record their round before they are cancelled.
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )


async def run_worker(
    settings: SimopsSettings, stop: asyncio.Event, readiness: Readiness | None = None
) -> None:
    """Run a worker until `stop` is set (waiting for Temporal to answer first); ready, in
    `readiness`, once Temporal sees it poll its task queue."""
    readiness = readiness or Readiness()
    # Before anything runs: activities must never write a schema older than they expect.
    await asyncio.to_thread(store_backend(settings).check)
    readiness.waiting("worker", "waiting for Temporal")
    client = await connect_when_up(settings, stop, client_interceptors(settings))
    if client is None:
        return
    account = account_budget(settings)
    async with SuperSimClient.from_settings(settings) as api:
        worker = build_worker(client, settings, api, account)
        try:
            async with worker:
                readiness.check("worker", worker_polling(client, worker, settings.task_queue))
                log.info("worker polling task queue %s", settings.task_queue)
                await stop.wait()
        finally:
            account.close()
