"""The sandbox simops' workflows run in (and replay in): Temporal's default, with time zones.

The default proxies `zoneinfo.ZoneInfo` to restrict `from_file`, `clear_cache` and
`reset_tzpath`, and its instances come out proxied too: `datetime.astimezone` then refuses them
("tzinfo argument must be None or of a tzinfo subclass"), so a campaign's schedule
(`simops.campaigns.schedule`) could not answer inside a workflow. Lifting it lets a workflow
build zones by name; `ZoneInfo(key)` reads the zone database once and caches it. A replay
computes the same instants as the run unless the zone database changed a rule in between
(a worker upgraded to a tzdata release that moved a zone's daylight saving dates).
"""

from __future__ import annotations

import dataclasses

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

_DEFAULT = SandboxRestrictions.default

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=dataclasses.replace(
        _DEFAULT,
        invalid_module_members=_DEFAULT.invalid_module_members.with_child_unrestricted(
            "zoneinfo", "ZoneInfo"
        ),
    )
)
"""The runner every simops worker and replayer uses."""
