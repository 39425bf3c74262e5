"""The workflow contract: running workflows depend on every ID and name, so each is pinned here
as it was first deployed, and the workflows' decorators use them."""

from __future__ import annotations

from temporalio import workflow

from simops.contract import (
    batch_workflow_id,
    campaign_id_of,
    campaign_of,
    campaign_workflow_id,
    sim_workflow_id,
)
from simops.workflows.campaign import CampaignWorkflow
from simops.workflows.campaign_batch import CampaignBatchWorkflow
from simops.workflows.sim_operation import SimOperationWorkflow


def test_workflow_ids_are_the_deployed_ones() -> None:
    assert sim_workflow_id("HS0123") == "sim-HS0123"
    assert campaign_workflow_id("launch-1") == "campaign-launch-1"
    assert batch_workflow_id("launch-1", 12) == "campaign-launch-1-batch-12"


def test_a_campaign_workflow_id_reads_back_exactly() -> None:
    # A campaign ID that looks like a batch's is still read as itself from a campaign workflow.
    for campaign_id in ("launch-1", "a-batch-3"):
        assert campaign_id_of(campaign_workflow_id(campaign_id)) == campaign_id
    assert campaign_of(batch_workflow_id("launch-1", 4)) == ("launch-1", 4)


def test_workflow_type_signal_and_query_names_are_the_deployed_ones() -> None:
    # The SDK's own reading of the decorators (no public accessor gives all of them at once).
    definitions = {
        cls: workflow._Definition.must_from_class(cls)
        for cls in (SimOperationWorkflow, CampaignWorkflow, CampaignBatchWorkflow)
    }
    assert {
        cls: (
            definition.name,
            sorted(filter(None, definition.signals)),
            sorted(filter(None, definition.queries)),
        )
        for cls, definition in definitions.items()
    } == {
        SimOperationWorkflow: ("SimOperation", ["sim_callbacks"], ["progress"]),
        CampaignWorkflow: (
            "Campaign",
            ["cancel", "pause", "resume", "slot_freed", "stopped"],
            ["progress"],
        ),
        CampaignBatchWorkflow: (
            "CampaignBatch",
            ["release_held", "sim_callbacks", "wind_down"],
            ["pending"],
        ),
    }
