"""simops: durable bulk lifecycle changes for Super SIMs on Temporal.

Arrows point down, and `make lint` checks it (`[tool.importlinter]` in pyproject.toml): `core`
(the domain, no I/O) at the bottom; `contract` (workflow IDs, signal and query names, the task
queue, search attributes); `runtime` (what every process shares); `observability`; `supersim`
(the API) and `campaigns` (bulk changes), which use no Temporal API; `messages`; `callbacks`;
`activities` and `workflows` at the Temporal edge; `clients` (starting, signalling and
inspecting workflows); `worker`, `ui`, `emulator` and `scan`; `devstack`; `cli` on top.
"""
