"""simops: durable bulk lifecycle changes for Super SIMs on Temporal.

Arrows point down: `cli` on top; `worker`, `starters`, `workflows` and `activities` at the
Temporal edge; `campaigns` (bulk changes without Temporal), `supersim` (the API), `callbacks`,
`observability` and `ui` beside them; `runtime` shared by every process; `core` (the domain, no
I/O) at the bottom. `emulator` and `devstack` run the API and the whole stack locally.
"""
