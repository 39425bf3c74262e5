"""A campaign's webhook deliveries from outside a worker, for `status -o json` and the dashboard:
the notifier's count per receiver, with the attempts of the delivery under way (Temporal retries
it, so only its pending activity knows them)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from simops.contract import delivery_of, notifier_workflow_id
from simops.messages import CampaignProgress, WebhookDelivery
from simops.workflows.campaign_notifier import CampaignNotifierWorkflow


async def webhook_deliveries(client: Client, campaign_id: str) -> list[WebhookDelivery] | None:
    """Per receiver, how the campaign's webhooks went (`None`: the campaign has no notifier,
    or no worker answered for a running one)."""
    handle = client.get_workflow_handle_for(
        CampaignNotifierWorkflow.run, notifier_workflow_id(campaign_id)
    )
    try:
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        deliveries = await handle.query(CampaignNotifierWorkflow.deliveries)
    except (RPCError, WorkflowQueryFailedError):
        return None
    for pending in description.raw_description.pending_activities:
        delivery = delivery_of(pending.activity_id)
        if delivery is None or delivery[0] >= len(deliveries):
            continue
        shown = deliveries[delivery[0]]
        # `attempt` is the attempt now running or next to run: those before it failed.
        shown.attempts += pending.attempt - 1
        if pending.HasField("last_failure") and pending.last_failure.message:
            shown.last_error = pending.last_failure.message
    return deliveries


async def with_deliveries(client: Client, progress: CampaignProgress) -> CampaignProgress:
    """The progress with its `deliveries` (unchanged when the campaign has no notifier)."""
    deliveries = await webhook_deliveries(client, progress.campaign_id)
    if deliveries is None:
        return progress
    return progress.model_copy(update={"deliveries": deliveries})
