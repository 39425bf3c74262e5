"""The test harness, in one place for the tests, the benchmarks (bench/) and the tools (tools/),
which import it and are never imported by it: stacks in process (`stacks`, `campaigns`) and as
processes (`process_stack`, `machines`), driving the command line (`processes`), the chaos
scenarios (`chaos_scenarios`), a real PostgreSQL (`postgres_server`, and the tests' fixtures in
`postgres`), the emulator and its API (`emulators`, `emulator_api`, `supersim`)."""
