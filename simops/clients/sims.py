"""One SIM's operation from outside a worker: start it (one at a time per SIM), read its
progress.

The workflow is named by its type and its query by name, not through the workflow class: `simops
sim` imports this module, and the class would bring the workflow's activities and their API
client into a command that makes no API request (a third of its start-up).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from simops.clients.handles import described
from simops.contract import (
    PROGRESS_QUERY,
    SIM_OPERATION,
    SIM_OPERATION_STATE,
    SIM_OPERATION_WORKFLOW,
    SIM_SID,
    one_sim_priority,
    sim_workflow_id,
)
from simops.sim_messages import OperationProgress, SimOperationOutcome, SimOperationRequest

SimOperationHandle = WorkflowHandle[Any, SimOperationOutcome]


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
            SIM_OPERATION_WORKFLOW,
            request,
            id=workflow_id,
            result_type=SimOperationOutcome,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            priority=one_sim_priority(),
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
    handle = client.get_workflow_handle(sim_workflow_id(sim_sid))
    description = await described(handle)
    if description is None or description.status != WorkflowExecutionStatus.RUNNING:
        return None
    progress: OperationProgress = await handle.query(PROGRESS_QUERY, result_type=OperationProgress)
    return progress
