"""Bulk changes without Temporal: specs, sources, rules, preparation, the batch stepper, its
journal, pacing, reports and the campaign store.
"""
