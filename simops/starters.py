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

from simops.campaigns.identity import spec_differences, with_file_sha256
from simops.campaigns.spec import CampaignSpec
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignExistsError, CampaignNotFoundError
from simops.messages import (
    CampaignResult,
    CampaignRunInput,
    OperationProgress,
    SimOperationOutcome,
    SimOperationRequest,
)
from simops.runtime.settings import SimopsSettings
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
    """A campaign with this ID and this very spec exists: starting it again starts nothing."""

    def __init__(self, campaign_id: str, status: WorkflowExecutionStatus | None) -> None:
        self.campaign_id = campaign_id
        self.status = status
        state = status.name.lower() if status is not None else "started"
        super().__init__(
            f"campaign {campaign_id} already exists ({state}) with the same spec: "
            "not starting a second one"
        )


class CampaignSpecConflictError(Exception):
    """A campaign with this ID exists with another spec: starting it would run a spec the user
    did not give (its workflow and store keep the one recorded first)."""

    def __init__(self, campaign_id: str, differences: list[str]) -> None:
        self.campaign_id = campaign_id
        self.differences = differences
        super().__init__(
            f"campaign {campaign_id} exists with another spec ({'; '.join(differences)}): "
            "not starting it; give another --id"
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


async def started_spec(client: Client, campaign_id: str) -> CampaignSpec:
    """The spec the campaign's workflow (its latest run) was started with, from its history."""
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    first = await anext(aiter(handle.fetch_history_events(page_size=1)))
    payloads = first.workflow_execution_started_event_attributes.input.payloads
    (run_input,) = await client.data_converter.decode(payloads, [CampaignRunInput])
    spec: CampaignSpec = run_input.spec
    return spec


def _recorded(spec: CampaignSpec, stored_sha256: str | None) -> CampaignSpec:
    """`spec` as recorded; one recorded before digests were gets its stored file's digest (the
    file it runs from)."""
    if spec.source.file_sha256 is not None or stored_sha256 is None:
        return spec
    source = spec.source.model_copy(update={"file_sha256": stored_sha256})
    return spec.model_copy(update={"source": source})


async def _existing_differences(
    client: Client, settings: SimopsSettings, spec: CampaignSpec, started: bool
) -> list[str]:
    """How `spec` differs from the one stored under its ID and, when `started`, from the one
    its workflow runs (they differ too when an earlier start mixed two specs)."""
    differences: list[str] = []
    stored_sha256: str | None = None
    with (
        contextlib.suppress(CampaignNotFoundError),
        CampaignStore.open(store_backend(settings), spec.campaign_id) as store,
    ):
        stored_sha256 = store.source_sha256()
        differences += spec_differences(_recorded(store.spec, stored_sha256), spec, "stored")
    if started:
        running = _recorded(await started_spec(client, spec.campaign_id), stored_sha256)
        differences += spec_differences(running, spec, "started")
    return differences


async def start_campaign(
    client: Client, settings: SimopsSettings, spec: CampaignSpec, source_file: Path | None
) -> CampaignHandle:
    """Write the campaign's store and start its workflow, once per campaign ID and spec.

    An ID in use is never started with another spec: `CampaignSpecConflictError` names each
    field of the store's or the workflow's spec that differs (the source file's digest
    included). With the same spec, `CampaignAlreadyStartedError` when its workflow exists;
    a store without a workflow (a start that stopped between the two) gets its workflow.
    """
    spec = with_file_sha256(spec, source_file)
    status = await campaign_status(client, spec.campaign_id)
    if status is None:
        try:
            CampaignStore.create(store_backend(settings), spec, source_file).close()
        except CampaignExistsError:
            differences = await _existing_differences(client, settings, spec, started=False)
            if differences:
                raise CampaignSpecConflictError(spec.campaign_id, differences) from None
        try:
            return await client.start_workflow(
                CampaignWorkflow.run,
                CampaignRunInput(spec=spec),
                id=campaign_workflow_id(spec.campaign_id),
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            # Another start of this ID got there first: its workflow is the one to compare with.
            status = await campaign_status(client, spec.campaign_id)
    differences = await _existing_differences(client, settings, spec, started=True)
    if differences:
        raise CampaignSpecConflictError(spec.campaign_id, differences)
    raise CampaignAlreadyStartedError(spec.campaign_id, status)
