"""Starting, signalling and inspecting simops' workflows from outside a worker, by feature:
`sims` (one SIM's operation) and `campaigns` (campaigns and migrations). The CLI, the
dashboard, the dev stack, the benchmarks and the tests all go through these."""
