"""The domain, with no I/O: a SIM's states, the transition rules and the planner."""
