"""A faithful local Super SIM API: the embedded default of `simops dev` and the test double.

Start one with `server.start_emulator(EmulatorOptions(...))` (in-process) or
`process.spawn_emulator_process([...])` (child process), or run `simops emulator`.
"""
