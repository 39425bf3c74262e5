"""Temporal workflows: deterministic orchestration only (no I/O, no clock but `workflow.now()`)."""
