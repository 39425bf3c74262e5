"""The I/O steps of a SIM operation: read a SIM, resolve a Fleet, apply an update, poll.

Business refusals (the 83xxx rules, unknown SIMs) come back as values so the workflow can report
them; transient failures (429, 5xx, transport) are raised as retryable `ApplicationError`s so
Temporal retries them with the activity's policy, honouring `Retry-After` through
`next_retry_delay`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from simops.callbacks.urls import callback_url
from simops.campaigns.account_budget import AccountBudget
from simops.core.codes import RuleCode
from simops.core.sim import SimSnapshot, SimStatus, is_sid
from simops.runtime.settings import SimopsSettings
from simops.sim_messages import (
    ApplyUpdateRequest,
    ApplyUpdateResult,
    FleetLookup,
    FleetResolution,
    SimFetchRequest,
)
from simops.supersim.accounts import account_access
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import AuthenticationError, NotFoundError, SuperSimError
from simops.supersim.resources import Fleet

SIM_NOT_FOUND = "SimNotFound"
STILL_SCHEDULED = "SimStillScheduled"


def as_application_error(error: SuperSimError) -> ApplicationError:
    """The Temporal form of an API error: retryable exactly when retrying can help."""
    delay = timedelta(seconds=error.retry_after) if error.retry_after else None
    return ApplicationError(
        str(error),
        {"code": error.code, "http_status": error.http_status},
        type=type(error).__name__,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    )


async def _fetch_fleet(client: SuperSimClient, reference: str) -> Fleet | None:
    """The Fleet `client`'s account knows by this SID or unique name, or `None`."""
    try:
        return await client.fetch_fleet(reference)
    except NotFoundError:
        return None


class SimActivities:
    """Activities that talk to the Super SIM API through one shared client, paced as one-SIM
    operations: ahead of every campaign request of the account."""

    def __init__(
        self, client: SuperSimClient, settings: SimopsSettings, account: AccountBudget
    ) -> None:
        self._shared_client = client
        self._account = account
        self._one_sim_client: SuperSimClient | None = None
        self._settings = settings

    @property
    def _client(self) -> SuperSimClient:
        # Made on first use: the shared session must be created inside the event loop.
        if self._one_sim_client is None:
            self._one_sim_client = self._shared_client.paced_by(self._account.one_sim())
        return self._one_sim_client

    async def _fetch(self, sim_sid: str) -> SimSnapshot:
        try:
            return SimSnapshot.of(await self._client.fetch_sim(sim_sid))
        except NotFoundError as error:
            raise ApplicationError(
                f"SIM {sim_sid} not found", type=SIM_NOT_FOUND, non_retryable=True
            ) from error
        except SuperSimError as error:
            raise as_application_error(error) from error

    @activity.defn(name="fetch_sim")
    async def fetch_sim(self, request: SimFetchRequest) -> SimSnapshot:
        """Read one SIM as it is now."""
        return await self._fetch(request.sim_sid)

    @activity.defn(name="poll_until_settled")
    async def poll_until_settled(self, request: SimFetchRequest) -> SimSnapshot:
        """Read one SIM; fail (retryably) while it is `scheduled`.

        The retry policy of the caller is the polling schedule, so the waiting costs no history
        events until the SIM settles or the operation deadline closes the activity.
        """
        observed = await self._fetch(request.sim_sid)
        if observed.status == SimStatus.SCHEDULED:
            # Benign: an expected part of polling, logged at debug level, not as a failure.
            raise ApplicationError(
                f"SIM {request.sim_sid} is still scheduled",
                type=STILL_SCHEDULED,
                category=ApplicationErrorCategory.BENIGN,
            )
        return observed

    @activity.defn(name="resolve_fleet")
    async def resolve_fleet(self, lookup: FleetLookup) -> FleetResolution:
        """The SID of a Fleet given by SID or unique name, checked to belong to the account.

        Fleets are per account, and a unique name means a Fleet of the account the SIM will
        belong to: where these credentials find none there (a child's `iot-eu` is not the
        parent's), the Fleet is looked up again acting as that account, when configuration
        can (`simops.supersim.accounts`). A Fleet SID of an account nothing configured can read
        is passed on as given: the API checks it when the update is sent.
        """
        try:
            fleet = await _fetch_fleet(self._client, lookup.reference)
            if fleet is None or fleet.account_sid != lookup.account_sid:
                fleet = await self._fetch_fleet_as(lookup) or fleet
        except SuperSimError as error:
            raise as_application_error(error) from error
        if fleet is None:
            if is_sid(lookup.reference, "HF"):
                return FleetResolution(fleet_sid=lookup.reference)
            return FleetResolution(
                code=int(RuleCode.FLEET_NOT_FOUND),
                reason=f"Fleet {lookup.reference!r} not found: give the Fleet SID for a Fleet "
                "of another account",
            )
        if fleet.account_sid != lookup.account_sid:
            return FleetResolution(
                code=int(RuleCode.FLEET_NOT_FOUND),
                reason=f"Fleet {lookup.reference!r} belongs to account {fleet.account_sid}, "
                f"not {lookup.account_sid}",
            )
        return FleetResolution(fleet_sid=fleet.sid)

    async def _fetch_fleet_as(self, lookup: FleetLookup) -> Fleet | None:
        """The Fleet, looked up acting as the lookup's account; `None` where nothing configured
        can act as it (the API then checks the Fleet when the update is sent)."""
        access = account_access(self._settings, lookup.account_sid)
        if access is None:
            return None
        try:
            async with SuperSimClient(access.settings) as client:
                return await _fetch_fleet(client, lookup.reference)
        except AuthenticationError:
            return None

    def _callback_url_for(self, workflow_id: str | None) -> str | None:
        """The signed callback URL for a workflow, or None where the ingress is not configured."""
        secret = self._settings.callback_secret
        base_url = self._settings.callback_base_url
        if workflow_id is None or secret is None or not base_url:
            return None
        return callback_url(base_url, secret.get_secret_value(), workflow_id)

    @activity.defn(name="apply_update")
    async def apply_update(self, request: ApplyUpdateRequest) -> ApplyUpdateResult:
        """Send one update, with a signed callback URL when the ingress is configured.

        The API has no idempotency key, and this activity may run again after an earlier run
        reached the API: a retry after a 5xx, a lost connection or a timeout, and, since it is a
        local activity, a run at attempt 1 again on another worker once the worker running it
        died (nothing of it was recorded). So it first reads the SIM and, when the SIM is no
        longer as the update was planned from (`expected`), returns what it read without
        writing, for the workflow to plan again from the truth.
        """
        url = self._callback_url_for(request.callback_workflow_id)
        update = request.update.model_copy(update={"callback_url": url}) if url else request.update
        try:
            if request.expected is not None:
                observed = SimSnapshot.of(await self._client.fetch_sim(request.sim_sid))
                if observed != request.expected:
                    # The earlier attempt's callback URL was this one: its callback still counts.
                    return ApplyUpdateResult(observed=observed, callback_requested=url is not None)
            result = await self._client.update_sim(request.sim_sid, update)
        except SuperSimError as error:
            if error.retryable or error.code is None:
                raise as_application_error(error) from error
            return ApplyUpdateResult(code=error.code, reason=error.message)
        return ApplyUpdateResult(
            observed=SimSnapshot.of(result.sim),
            accepted_async=result.accepted_async,
            callback_requested=url is not None,
        )
