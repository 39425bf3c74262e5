"""Starting and inspecting SIM operations from outside a worker (the CLI, campaigns' tooling)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from simops.campaign_store import CampaignExistsError, CampaignStore
from simops.models import (
    CampaignResult,
    CampaignRunInput,
    CampaignSpec,
    OperationProgress,
    SimOperationOutcome,
    SimOperationRequest,
)
from simops.settings import SimopsSettings
from simops.workflows.campaign import CampaignWorkflow, campaign_workflow_id
from simops.workflows.search_attributes import SIM_OPERATION, SIM_OPERATION_STATE, SIM_SID
from simops.workflows.sim_operation import SimOperationWorkflow

SimOperationHandle = WorkflowHandle[SimOperationWorkflow, SimOperationOutcome]


def sim_workflow_id(sim_sid: str) -> str:
    """The workflow ID of a SIM's operation: one operation per SIM at a time."""
    return f"sim-{sim_sid}"


class SimBusyError(Exception):
    """The SIM already has an operation running; names it so the user knows what to wait for."""

    def __init__(self, sim_sid: str, running_operation: str | None) -> None:
        self.sim_sid = sim_sid
        self.running_operation = running_operation
        what = f"operation '{running_operation}'" if running_operation else "another operation"
        super().__init__(
            f"SIM {sim_sid} is busy: {what} is running as workflow {sim_workflow_id(sim_sid)}; "
            "wait for it or check it with `simops sim status`"
        )


async def start_sim_operation(
    client: Client, task_queue: str, request: SimOperationRequest
) -> SimOperationHandle:
    """Start the operation, or raise `SimBusyError` naming the one already running."""
    workflow_id = sim_workflow_id(request.sim_sid)
    try:
        return await client.start_workflow(
            SimOperationWorkflow.run,
            request,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SIM_SID, request.sim_sid),
                    SearchAttributePair(SIM_OPERATION, request.operation),
                    SearchAttributePair(SIM_OPERATION_STATE, "running"),
                ]
            ),
        )
    except WorkflowAlreadyStartedError as error:
        running = await client.get_workflow_handle(workflow_id).describe()
        operation = running.typed_search_attributes.get(SIM_OPERATION)
        raise SimBusyError(request.sim_sid, operation) from error


async def running_progress(client: Client, sim_sid: str) -> OperationProgress | None:
    """The progress of the SIM's running operation, or None when none is running."""
    handle = client.get_workflow_handle_for(SimOperationWorkflow.run, sim_workflow_id(sim_sid))
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        return None
    return await handle.query(SimOperationWorkflow.progress)


CampaignHandle = WorkflowHandle[CampaignWorkflow, CampaignResult]


class CampaignAlreadyStartedError(Exception):
    """A campaign with this ID exists: starting it again starts nothing."""

    def __init__(self, campaign_id: str, status: WorkflowExecutionStatus | None) -> None:
        self.campaign_id = campaign_id
        self.status = status
        state = status.name.lower() if status is not None else "started"
        super().__init__(
            f"campaign {campaign_id} already exists ({state}): not starting a second one; "
            f"see `simops campaign status {campaign_id}`"
        )


async def campaign_status(client: Client, campaign_id: str) -> WorkflowExecutionStatus | None:
    """The campaign workflow's status, or None when no such campaign was ever started."""
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.status


async def start_campaign(
    client: Client, settings: SimopsSettings, spec: CampaignSpec, source_file: Path | None
) -> CampaignHandle:
    """Write the campaign's store and start its workflow, once per campaign ID."""
    existing = await campaign_status(client, spec.campaign_id)
    if existing is not None:
        raise CampaignAlreadyStartedError(spec.campaign_id, existing)
    # A start that stopped between writing the store and starting the workflow left the store
    # of this same campaign: it serves as it is.
    with contextlib.suppress(CampaignExistsError):
        CampaignStore.create(settings.campaign_dir, spec, source_file).close()
    try:
        return await client.start_workflow(
            CampaignWorkflow.run,
            CampaignRunInput(spec=spec),
            id=campaign_workflow_id(spec.campaign_id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError as error:
        raise CampaignAlreadyStartedError(spec.campaign_id, None) from error
