"""The campaign store: every row of a campaign, its plan and its outcome, shared by every
process."""
