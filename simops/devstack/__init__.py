"""Running the whole stack locally: `simops dev`, and the in-process and process stacks of tests and
benchmarks.
"""
