"""Gauges a campaign workflow publishes: its phase and its batches in flight.

Only the workflow knows them, so it records them through Temporal's workflow metric meter: the
SDK drops what a replay would record twice, and the gauges come out of the worker's SDK metrics
(the `/metrics` endpoint serves them with simops' own). A workflow module imports this one:
nothing here may have side effects at import time.
"""

from __future__ import annotations

from temporalio import workflow

from simops.campaigns.rows import CampaignPhase

PHASE_GAUGE = "simops_campaign_phase"
BATCHES_GAUGE = "simops_campaign_batches_in_flight"


def record_campaign_gauges(campaign_id: str, phase: CampaignPhase, batches_in_flight: int) -> None:
    """Publish the campaign's phase (1 for the current one, 0 for every other) and batches."""
    meter = workflow.metric_meter().with_additional_attributes({"campaign": campaign_id})
    phases = meter.create_gauge(PHASE_GAUGE, "1 for the phase the campaign is in, else 0.")
    for each in CampaignPhase:
        phases.set(int(each == phase), {"phase": each.value})
    meter.create_gauge(BATCHES_GAUGE, "Batch workflows of the campaign running now.").set(
        batches_in_flight
    )
