"""One SIM's lifecycle change as a durable workflow: plan, apply, wait for `scheduled` to resolve.

The workflow converges the SIM to a desired state. It asks the planner for the next call, applies
it, then waits for an authentic callback up to a deadline and falls back to polling (the
activity's retry policy is the polling schedule, so waiting writes no history). A callback is
only a hint: the SIM is read again before anything is concluded.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from simops.activities.sims import SIM_NOT_FOUND, SimActivities
    from simops.contract import (
        CALLBACK_SIGNAL,
        PROGRESS_QUERY,
        SIM_OPERATION_STATE,
        SIM_OPERATION_WORKFLOW,
    )
    from simops.core.codes import RuleCode
    from simops.core.sim import (
        DesiredState,
        OutcomeKind,
        PlanKind,
        SimSnapshot,
        SimStatus,
        SimUpdate,
        is_sid,
    )
    from simops.core.transitions import check_applies_to, plan
    from simops.sim_messages import (
        ApplyUpdateRequest,
        FleetLookup,
        OperationProgress,
        SimCallbackBatch,
        SimFetchRequest,
        SimOperationOutcome,
        SimOperationRequest,
    )
    from simops.workflows.waiting import wait_until

# Reads and writes are local activities: short API calls that need no task-queue round trip,
# which halves an activation's latency. Polling stays a regular activity so that its retries
# (the polling schedule) live on the server, not in the worker's memory.
API_CALL_TIMEOUT = timedelta(seconds=30)
API_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=[SIM_NOT_FOUND],
)
POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[SIM_NOT_FOUND],
)
NOT_FOUND_CODE = int(RuleCode.NOT_FOUND)


def _failure_type(error: BaseException | None) -> str | None:
    """The type of the first `ApplicationError` in a failure's chain of causes."""
    while error is not None:
        if isinstance(error, ApplicationError):
            return error.type
        error = error.cause if isinstance(error, FailureError) else None
    return None


class OperationFailed(Exception):
    """Ends an operation early with a failed outcome (a refusal, an unknown SIM, a deadline)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@workflow.defn(name=SIM_OPERATION_WORKFLOW)
class SimOperationWorkflow:
    """Converges one SIM to a desired state; workflow ID `sim-{sid}`, one at a time per SIM."""

    @workflow.init
    def __init__(self, request: SimOperationRequest) -> None:
        self._request = request
        self._step = "starting"
        self._state = "running"
        self._observed: SimSnapshot | None = None
        self._writes = 0
        self._callbacks_received = 0
        self._seen_tokens: set[str] = set()

    @workflow.signal(name=CALLBACK_SIGNAL)
    def sim_callbacks(self, batch: SimCallbackBatch) -> None:
        """Provider callbacks for this SIM: they wake the wait; duplicates are dropped."""
        for callback in batch.callbacks:
            if callback.sim_sid != self._request.sim_sid:
                continue
            if callback.idempotency_token is not None:
                if callback.idempotency_token in self._seen_tokens:
                    continue
                self._seen_tokens.add(callback.idempotency_token)
            self._callbacks_received += 1

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> OperationProgress:
        """The current step and state of the operation."""
        return OperationProgress(
            sim_sid=self._request.sim_sid,
            operation=self._request.operation,
            step=self._step,
            state=self._state,
            observed=self._observed,
            writes=self._writes,
            callbacks_received=self._callbacks_received,
        )

    @workflow.run
    async def run(self, request: SimOperationRequest) -> SimOperationOutcome:
        """Plan, apply and wait until the SIM converges, is refused, or the deadline passes."""
        started_at = workflow.now()
        deadline = started_at + timedelta(seconds=request.deadline_seconds)
        before: SimSnapshot | None = None
        try:
            before = await self._fetch()
            desired = await self._desired_state(before)
            self._check_applies_to(before, desired)
            outcome = await self._converge(desired, deadline)
            code, reason = None, None
        except OperationFailed as failure:
            outcome, code, reason = OutcomeKind.FAILED, failure.code, failure.reason
        self._set_state(outcome.value, step="finished")
        return SimOperationOutcome(
            sim_sid=request.sim_sid,
            operation=request.operation,
            outcome=outcome,
            code=code,
            reason=reason,
            before=before,
            after=self._observed,
            writes=self._writes,
            started_at=started_at,
            finished_at=workflow.now(),
        )

    async def _converge(self, desired: DesiredState, deadline: datetime) -> OutcomeKind:
        observed = self._current()
        while True:
            step = plan(observed.state(), desired)
            if step.kind == PlanKind.DONE:
                return OutcomeKind.CONVERGED if self._writes else OutcomeKind.ALREADY_CONVERGED
            if step.kind == PlanKind.IMPOSSIBLE:
                raise OperationFailed(step.code, step.reason or "the rules forbid this change")
            if step.kind == PlanKind.WAIT:
                observed = await self._await_settled(deadline, callback_expected=False)
                continue
            if step.update is None:
                raise ApplicationError("the planner proposed a call without an update")
            observed = await self._apply(step.update, observed, deadline)

    async def _apply(
        self, update: SimUpdate, planned_from: SimSnapshot, deadline: datetime
    ) -> SimSnapshot:
        self._set_state("applying", step="apply update")
        callbacks_before = self._callbacks_received
        result = await workflow.execute_local_activity_method(
            SimActivities.apply_update,
            ApplyUpdateRequest(
                sim_sid=self._request.sim_sid,
                update=update,
                callback_workflow_id=workflow.info().workflow_id,
                expected=planned_from,
            ),
            start_to_close_timeout=API_CALL_TIMEOUT,
            retry_policy=API_RETRY,
        )
        if result.code == int(RuleCode.SCHEDULED_CONFLICT):
            # Another update got there first: let it settle, then plan again from the truth.
            return await self._await_settled(deadline, callback_expected=False)
        if result.code is not None or result.observed is None:
            raise OperationFailed(result.code, result.reason or "the API refused the update")
        self._writes += 1
        self._observed = result.observed
        if result.observed.status != SimStatus.SCHEDULED:
            return result.observed
        return await self._await_settled(
            deadline,
            callback_expected=result.callback_requested,
            callbacks_before=callbacks_before,
        )

    async def _await_settled(
        self, deadline: datetime, *, callback_expected: bool, callbacks_before: int = 0
    ) -> SimSnapshot:
        if callback_expected:
            self._set_state("waiting_callback", step="wait for callback")
            wait = min(
                timedelta(seconds=self._request.callback_wait_seconds), deadline - workflow.now()
            )
            if await wait_until(lambda: self._callbacks_received > callbacks_before, wait):
                observed = await self._fetch()
                if observed.status != SimStatus.SCHEDULED:
                    return observed
        return await self._poll(deadline)

    async def _poll(self, deadline: datetime) -> SimSnapshot:
        self._set_state("polling", step="poll until settled")
        while True:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                raise OperationFailed(
                    None,
                    "The SIM was still scheduled when the operation deadline "
                    f"({self._request.deadline_seconds:g} s) passed",
                )
            observed = await self._poll_once(remaining)
            if observed.status != SimStatus.SCHEDULED:
                return observed

    async def _poll_once(self, remaining: timedelta) -> SimSnapshot:
        callbacks_before = self._callbacks_received
        poll = workflow.start_activity_method(
            SimActivities.poll_until_settled,
            SimFetchRequest(sim_sid=self._request.sim_sid),
            start_to_close_timeout=API_CALL_TIMEOUT,
            schedule_to_close_timeout=remaining,
            retry_policy=POLL_RETRY,
        )
        await workflow.wait_condition(
            lambda: poll.done() or self._callbacks_received > callbacks_before
        )
        if not poll.done():
            # A callback arrived while polling: read the SIM now instead of at the next try.
            poll.cancel()
            with contextlib.suppress(ActivityError, asyncio.CancelledError):
                await poll
            return await self._fetch()
        try:
            observed = await poll
        except ActivityError:
            # The deadline closed the poll; one last read says where the SIM stands.
            return await self._fetch()
        self._observed = observed
        return observed

    async def _fetch(self) -> SimSnapshot:
        try:
            observed = await workflow.execute_local_activity_method(
                SimActivities.fetch_sim,
                SimFetchRequest(sim_sid=self._request.sim_sid),
                start_to_close_timeout=API_CALL_TIMEOUT,
                retry_policy=API_RETRY,
            )
        except FailureError as error:
            if _failure_type(error) == SIM_NOT_FOUND:
                raise OperationFailed(NOT_FOUND_CODE, str(error.cause or error)) from error
            raise
        self._observed = observed
        return observed

    async def _desired_state(self, observed: SimSnapshot) -> DesiredState:
        request = self._request
        fleet_sid: str | None = None
        if request.fleet is not None and is_sid(request.fleet, "HF"):
            # The API checks a Fleet SID against the account itself (83006): no lookup needed.
            fleet_sid = request.fleet
        elif request.fleet is not None:
            self._set_state("running", step="resolve fleet")
            resolution = await workflow.execute_local_activity_method(
                SimActivities.resolve_fleet,
                FleetLookup(
                    reference=request.fleet,
                    account_sid=request.account_sid or observed.account_sid,
                ),
                start_to_close_timeout=API_CALL_TIMEOUT,
                retry_policy=API_RETRY,
            )
            if resolution.fleet_sid is None:
                raise OperationFailed(resolution.code, resolution.reason or "Fleet not found")
            fleet_sid = resolution.fleet_sid
        return DesiredState(
            status=request.status,
            fleet_sid=fleet_sid,
            remove_fleet=request.remove_fleet,
            account_sid=request.account_sid,
            unique_name=request.unique_name,
            allow_inactive_move=request.allow_inactive_move,
        )

    def _check_applies_to(self, observed: SimSnapshot, desired: DesiredState) -> None:
        violation = check_applies_to(observed.state(), desired, self._request.from_statuses)
        if violation is not None:
            raise OperationFailed(int(violation.code), violation.message)

    def _current(self) -> SimSnapshot:
        if self._observed is None:
            raise ApplicationError("the SIM was never read")
        return self._observed

    def _set_state(self, state: str, *, step: str) -> None:
        self._step = step
        if state == self._state:
            return
        self._state = state
        # Only where the starter set the attribute: a namespace without simops' search
        # attributes registered (a test server, say) would refuse the upsert.
        if workflow.info().typed_search_attributes.get(SIM_OPERATION_STATE) is not None:
            workflow.upsert_search_attributes([SIM_OPERATION_STATE.value_set(state)])
