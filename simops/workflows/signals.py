"""Names of the signals simops workflows receive, shared by the workflows and their senders."""

CALLBACK_SIGNAL = "sim_callbacks"
"""Carries a `SimCallbackBatch`: the callbacks the ingress coalesced for one workflow."""
CAMPAIGN_STOPPED_SIGNAL = "stopped"
"""Carries a `CampaignStopNotice`: a batch activity learned that its campaign stopped."""
