"""The test harness, in one place for the tests, the benchmarks (bench/) and the tools (tools/),
which import it and are never imported by it: stacks in process (`stacks`, `campaigns`) and as
processes (`process_stack`, `machines`), driving the command line (`processes`), the chaos
scenarios (`chaos_scenarios`), a real PostgreSQL (`postgres_server`, and the tests' fixtures in
`postgres`), the emulator and its API (`emulators`, `emulator_api`, `supersim`).

It lives beside the tests rather than in the installed package: it needs what only the `dev`
extra installs (pytest, pgserver), and the benchmarks and tools run from a checkout's root
(`python -m bench.NAME`, `python -m tools.NAME`), where `tests` is importable as it is for
pytest. What a user runs (`simops dev`, `simops.devstack`) stays in the package."""
