"""Benchmarks and chaos scenarios; tests import them by name."""
