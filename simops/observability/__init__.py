"""Watching simops run: Prometheus metrics, health checks, JSON logs, tracing, codec server.

See docs/observing.md. Every label is low-cardinality: a campaign ID at most, never a SIM.
"""
