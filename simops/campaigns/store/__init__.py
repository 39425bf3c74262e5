"""The campaign store: every row of a campaign, its plan and outcome, shared by every process."""
