"""A campaign's controls as pure functions (no I/O): which errors stop it, when failures do, and
where compensation takes a SIM its failed path left less in service than it found it.

The batch activities apply these to each SIM's outcome as it arrives (see `journal.py`),
so a control acts within the campaign's concurrency, not at the end of a 1,000-row batch.
"""

from __future__ import annotations

import math

from simops.campaigns.spec import CampaignSpec
from simops.core.codes import RuleCode
from simops.core.sim import ENABLED_STATUSES, DesiredState, SimSnapshot, SimStatus, SimUpdate

SYSTEMIC_CODES: dict[int, str] = {
    int(RuleCode.AUTHENTICATION): (
        "the credentials are wrong, missing or expired: every request fails the same way"
    ),
    int(RuleCode.FLEET_NOT_FOUND): (
        "preparation found the Fleet, so the API refusing it means the Fleet is gone or belongs "
        "to another account: every SIM sent to it fails the same way"
    ),
}
"""API error codes about the account, the credentials or the request rather than one SIM, and
why: after the first, no SIM gets a first write (see also `systemic_reason`)."""

SYSTEMIC_HTTP_STATUSES: dict[int, str] = {
    401: "the credentials were refused",
    403: "the credentials may not do this (permission)",
}
"""HTTP statuses that say the same of every request, whatever their error code."""


def systemic_reason(
    code: int | None,
    http_status: int | None,
    message: str,
    *,
    update: SimUpdate | None,
    observed: SimSnapshot | None,
) -> str | None:
    """The stop reason when an API error is about the account, not this SIM; `None` if not.

    83010 on the move of an `inactive` SIM is the inactive-move private beta missing from the
    account (the planner only proposes a move the rules allow, so nothing about the SIM is
    wrong): every other SIM's move fails the same way.
    """
    why = SYSTEMIC_CODES.get(code) if code is not None else None
    if why is None and http_status is not None:
        why = SYSTEMIC_HTTP_STATUSES.get(http_status)
    if (
        why is None
        and code == RuleCode.TRANSITION_NOT_ALLOWED
        and update is not None
        and update.account_sid is not None
        and observed is not None
        and observed.status == SimStatus.INACTIVE
        and update.account_sid != observed.account_sid
    ):
        why = "the account cannot move inactive SIMs (private beta): every move fails the same way"
    if why is None:
        return None
    label = f"{code}: " if code is not None else ""
    return f"{label}{message} ({why}); no new SIM is written"


def failure_threshold_reason(spec: CampaignSpec, failed: int, ended: int, total: int) -> str | None:
    """The stop reason when `failed` SIMs of `ended` (of `total`) cross the spec's threshold.

    `--max-failures N` counts failures; `--max-failures P%` is the share of the SIMs that
    ended, judged once `min_ended_for_ratio` of them (or all) ended, as AWS IoT Jobs' abort
    criteria do, so that one early failure is not 100%.
    """
    if spec.max_failures is not None:
        threshold = max(spec.max_failures, 1)
        if failed >= threshold:
            return (
                f"{failed} SIMs failed, reaching the failure threshold of {threshold}: "
                "no new writes"
            )
        return None
    ratio = spec.max_failure_ratio
    if ratio is None or failed == 0:
        return None
    if failed >= max(1, math.ceil(ratio * total)):
        return (
            f"{failed} SIMs failed, reaching {ratio:.0%} of the campaign's {total} SIMs: "
            "no new writes"
        )
    if ended >= min(spec.min_ended_for_ratio, total) and failed / ended >= ratio:
        return (
            f"{failed} of the {ended} SIMs that ended failed ({failed / ended:.0%}), reaching "
            f"the failure threshold of {ratio:.0%}: no new writes"
        )
    return None


def is_less_in_service(before: SimSnapshot | None, observed: SimSnapshot) -> bool:
    """Whether a SIM that was `ready` or `active` is now `inactive`: its device is offline."""
    return (
        before is not None
        and before.status in ENABLED_STATUSES
        and observed.status == SimStatus.INACTIVE
    )


def restore_goal(before: SimSnapshot) -> DesiredState:
    """Where compensation takes a SIM it deactivated: its earlier status, where it is now and
    with the Fleet it has there (a SIM moved without one cannot be enabled: the planner says
    so, and the row reports why it was not restored)."""
    return DesiredState(status=before.status)
