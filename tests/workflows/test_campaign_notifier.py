"""Campaign webhooks end to end: a dev server, the emulator, a worker and a receiver that is down
for the first deliveries: every event arrives once per `webhook-id`, in order, signed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction
from simops.clients.campaigns import campaign_progress, start_campaign, workflow_status
from simops.clients.notifications import with_deliveries
from simops.contract import notifier_workflow_id
from simops.messages import WebhookDelivery
from tests.helpers.campaigns import new_sims, spec, write_lines
from tests.helpers.stacks import campaign_test_stack
from tests.helpers.webhook_receiver import (
    TEST_NOTIFY_SECRET,
    bodies_text,
    event_types,
    webhook_receiver,
)

FIRST_REFUSED = 3


def _ended_rows(events: list[dict[str, Any]]) -> list[int]:
    rows: list[int] = []
    for event in events:
        if event["type"] == "simops.campaign.rows_ended":
            for run in event["data"]["rows"]:
                rows += range(run["first_row"], run["last_row"] + 1)
    return rows


async def test_a_receiver_down_at_first_gets_every_event_once_in_order_signed(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=20, scheduled_delay=(0.05, 0.2))
    async with (
        webhook_receiver(down_for=FIRST_REFUSED) as receiver,
        campaign_test_stack(dev_env, emulator, tmp_path, notify_secret=TEST_NOTIFY_SECRET) as stack,
    ):
        sims = await new_sims(stack, 8)
        source = write_lines(tmp_path / "sims.csv", ["sim", *(sim.iccid or "" for sim in sims)])
        campaign = spec(
            "hooked",
            CampaignAction.ACTIVATE,
            fleet=stack.emulator.parent.fleets[0],
            batch_size=3,
            notify_urls=[receiver.url],
        )
        handle = await start_campaign(stack.client, stack.settings, campaign, source)
        result = await handle.result()
        notifier = stack.client.get_workflow_handle(notifier_workflow_id("hooked"))
        await notifier.result()
        progress = await with_deliveries(
            stack.client,
            await campaign_progress(stack.settings, handle, await workflow_status(handle)),
        )

    assert result.phase == CampaignPhase.COMPLETED
    assert receiver.refused == FIRST_REFUSED
    assert receiver.bad_signatures == 0
    ids = [received.webhook_id for received in receiver.accepted]
    assert len(ids) == len(set(ids)), "an event was accepted twice"
    assert ids == [event["id"] for event in receiver.events]
    types = event_types(receiver)
    assert types[0] == "simops.campaign.started"
    assert types[-1] == "simops.campaign.completed"
    assert "simops.campaign.phase_changed" in types
    assert Counter(_ended_rows(receiver.events)) == Counter(range(1, 9)), types
    sequences = [int(event["sequence"]) for event in receiver.events]
    assert sequences == list(range(len(ids))), "events arrived out of order"
    for event in receiver.events:
        assert event["specversion"] == "1.0"
        assert event["subject"] == "hooked"
        assert event["source"] and event["datacontenttype"] == "application/json"
    text = bodies_text(receiver)
    for sim in sims:
        assert sim.iccid and sim.iccid not in text
    assert TEST_NOTIFY_SECRET.removeprefix("whsec_") not in text
    assert "receiver-token" not in text
    assert progress.deliveries is not None
    (delivery,) = progress.deliveries
    assert isinstance(delivery, WebhookDelivery)
    assert delivery.url.endswith("/hooks/simops") and "receiver-token" not in delivery.url
    assert delivery.events_sent == len(ids) and delivery.events_failed == 0
    assert delivery.attempts == len(ids) + FIRST_REFUSED
    assert delivery.last_status == 200 and delivery.last_event_type == types[-1]


async def test_rows_ended_comes_at_most_once_per_five_seconds(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=20, scheduled_delay=(0.05, 0.1))
    async with (
        webhook_receiver() as receiver,
        campaign_test_stack(dev_env, emulator, tmp_path, notify_secret=TEST_NOTIFY_SECRET) as stack,
    ):
        sims = await new_sims(stack, 12)
        source = write_lines(tmp_path / "sims.csv", [sim.sid for sim in sims])
        # About a SIM a second: rows end over some 12 seconds.
        campaign = spec(
            "throttled",
            CampaignAction.ACTIVATE,
            fleet=stack.emulator.parent.fleets[0],
            batch_size=2,
            rate=2.0,
            concurrency=2,
            notify_urls=[receiver.url],
        )
        handle = await start_campaign(stack.client, stack.settings, campaign, source)
        await handle.result()
        await stack.client.get_workflow_handle(notifier_workflow_id("throttled")).result()

    rows_events = [
        datetime.fromisoformat(event["time"])
        for event in receiver.events
        if event["type"] == "simops.campaign.rows_ended"
    ]
    assert len(rows_events) >= 2, event_types(receiver)
    gaps = [later - earlier for earlier, later in pairwise(rows_events)]
    assert min(gaps) >= timedelta(seconds=5), gaps
    assert sorted(_ended_rows(receiver.events)) == list(range(1, 13))
