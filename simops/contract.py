"""The workflow contract: what a process outside a workflow must agree on with the workflows.

Every workflow ID is built and parsed here, every workflow type, signal and query name is
spelled here (simops' workflows have no update), with the task queue's default and the search
attributes. Running workflows depend on each of them: a changed ID or name strands a running
campaign, so they never change, and the replay tests of recorded histories would say so.

Callers that know a workflow's class (`simops.clients`) signal and query it by typed method
reference (`handle.signal(CampaignWorkflow.pause)`); the names are spelled out for the
workflows' decorators and for the senders that cannot or need not import a workflow class: the
callback ingress, which routes one signal to whichever workflow a URL names, a batch activity
telling its campaign that it stopped (activities sit below workflows), and the one-SIM client,
which `simops sim` imports without the workflow and its activities (a faster start-up).

Nothing here imports a workflow, an activity or the rest of simops, so every layer may import
it: it sits at the bottom of the layers (`[tool.importlinter]` in pyproject.toml).
"""

from __future__ import annotations

import re

from temporalio.common import Priority, SearchAttributeKey

TASK_QUEUE = "simops"
"""The task queue simops' workers poll unless `SIMOPS_TASK_QUEUE` names another."""

SIM_OPERATION_WORKFLOW = "SimOperation"
CAMPAIGN_WORKFLOW = "Campaign"
CAMPAIGN_BATCH_WORKFLOW = "CampaignBatch"
CAMPAIGN_NOTIFIER_WORKFLOW = "CampaignNotifier"

CALLBACK_SIGNAL = "sim_callbacks"
"""Carries a `SimCallbackBatch` to a SIM operation or a campaign batch: the callbacks the
ingress coalesced for one workflow."""
CAMPAIGN_STOPPED_SIGNAL = "stopped"
"""Carries a `CampaignStopNotice` to a campaign: a batch activity learned that it stopped."""
CAMPAIGN_SLOT_FREED_SIGNAL = "slot_freed"
"""To a queued campaign: a campaign of its account ended, so it may be its turn to run."""
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"
CANCEL_SIGNAL = "cancel"
"""Carries the reason, a string."""
WIND_DOWN_SIGNAL = "wind_down"
"""From a cancelled campaign to its running batches."""
RELEASE_HELD_SIGNAL = "release_held"
"""From a resumed campaign to its running batches."""

CAMPAIGN_EVENT_SIGNAL = "campaign_event"
"""Carries a `CampaignEvent` from a campaign to its notifier, in order."""

PROGRESS_QUERY = "progress"
"""A SIM operation's `OperationProgress`, a campaign's `CampaignProgress`."""
PENDING_QUERY = "pending"
"""How many SIMs a campaign batch has still in progress."""
DELIVERIES_QUERY = "deliveries"
"""A campaign notifier's `WebhookDelivery` per receiver."""

SIM_SID = SearchAttributeKey.for_keyword("SimSid")
SIM_OPERATION = SearchAttributeKey.for_keyword("SimOperation")
SIM_OPERATION_STATE = SearchAttributeKey.for_keyword("SimOperationState")
ALL_SEARCH_ATTRIBUTES = (SIM_SID, SIM_OPERATION, SIM_OPERATION_STATE)
"""Every key a namespace must have registered before simops workflows start. Never an ICCID:
search attributes are visible to anyone who can read the namespace."""

_SIM_PREFIX = "sim-"
_CAMPAIGN_PREFIX = "campaign-"
_BATCH_INFIX = "-batch-"
_NOTIFIER_PREFIX = "notify-"
_CAMPAIGN_OR_BATCH = re.compile(
    re.escape(_CAMPAIGN_PREFIX)
    + r"(?P<campaign>.+?)(?:"
    + re.escape(_BATCH_INFIX)
    + r"(?P<batch>\d+))?$"
)


def sim_workflow_id(sim_sid: str) -> str:
    """The workflow ID of a SIM's operation: one operation per SIM at a time."""
    return f"{_SIM_PREFIX}{sim_sid}"


def is_sim_workflow_id(workflow_id: str) -> bool:
    """Whether `workflow_id` is a SIM operation's (`sim_workflow_id`)."""
    return workflow_id.startswith(_SIM_PREFIX)


def campaign_workflow_id(campaign_id: str) -> str:
    """The workflow ID of a campaign: starting the same ID twice starts one campaign."""
    return f"{_CAMPAIGN_PREFIX}{campaign_id}"


def batch_workflow_id(campaign_id: str, batch_no: int) -> str:
    """The workflow ID of a campaign's batch; a batch run again keeps its ID, so callbacks for
    SIMs an earlier run wrote reach the new one."""
    return f"{campaign_workflow_id(campaign_id)}{_BATCH_INFIX}{batch_no}"


def notifier_workflow_id(campaign_id: str) -> str:
    """The workflow ID of a campaign's notifier (its webhooks): one per campaign, outliving
    it until every event is delivered. Not under `campaign-`, so no listing of campaigns or
    batches takes it for one."""
    return f"{_NOTIFIER_PREFIX}{campaign_id}"


def delivery_activity_id(target_index: int, sequence: int) -> str:
    """The activity ID of delivering event `sequence` to receiver `target_index`: the status
    finds a delivery's attempts by it."""
    return f"deliver-{target_index}-{sequence}"


def delivery_of(activity_id: str) -> tuple[int, int] | None:
    """The receiver index and event number of a delivery activity's ID (`None`: another)."""
    match = re.fullmatch(r"deliver-(\d+)-(\d+)", activity_id)
    return (int(match.group(1)), int(match.group(2))) if match else None


def campaign_id_of(campaign_workflow: str) -> str:
    """The campaign ID of a campaign workflow's ID (as `list_workflows` returns it)."""
    return campaign_workflow.removeprefix(_CAMPAIGN_PREFIX)


def campaign_of(workflow_id: str) -> tuple[str | None, int | None]:
    """The campaign ID and batch number a workflow ID names (each `None` when it names none).

    A campaign whose own ID ends in `-batch-<n>` reads as a batch of a shorter one: this is for
    labelling logs; `campaign_id_of` reads a campaign workflow's ID exactly.
    """
    match = _CAMPAIGN_OR_BATCH.match(workflow_id)
    if match is None:
        return None, None
    batch = match.group("batch")
    return match.group("campaign"), int(batch) if batch is not None else None


ONE_SIM_PRIORITY_KEY = 1
"""The task priority of one-SIM operations: ahead of every campaign's workflow and activity
tasks on the shared task queue (Temporal's keys run 1, first, to 5; 3 is the default)."""
CAMPAIGN_PRIORITY_KEY = 3
"""The task priority of campaigns, their batches and their activities (which inherit it)."""


def one_sim_priority() -> Priority:
    """The priority a one-SIM operation's workflow starts with (its activities inherit it)."""
    return Priority(priority_key=ONE_SIM_PRIORITY_KEY)


def campaign_priority(campaign_id: str, weight: float) -> Priority:
    """The priority a campaign's workflow starts with: its batches and activities inherit it.
    The fairness key is the campaign, weighted as its share of the account's budget, so that
    on a server with task queue fairness one campaign's backlog does not starve another's."""
    return Priority(
        priority_key=CAMPAIGN_PRIORITY_KEY, fairness_key=campaign_id[:64], fairness_weight=weight
    )


DEV_SERVER_DYNAMIC_CONFIG = ("matching.enableFairness=true",)
"""What simops' dev servers set: task queue fairness, so that campaigns' fairness keys take
effect (Server 1.32 runs with it here); priority keys need nothing (on by default)."""
