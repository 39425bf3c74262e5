"""A retry of an ended campaign: the new campaign's ID and spec, over the rows that failed.

`simops campaign retry`, `simops migrate retry` and the JSON API's `POST …/retry` build it here;
each says in its own words why one is refused (the exceptions carry what the words need).
"""

from __future__ import annotations

import asyncio
from itertools import islice

from temporalio.client import Client, WorkflowExecutionStatus

from simops.campaigns.spec import CampaignSource, CampaignSpec
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignNotFoundError
from simops.clients.campaigns import campaign_status
from simops.runtime.settings import SimopsSettings

RETRY_SUFFIX = "-retry-"
"""A retry's default ID is the retried campaign's ID, this, and the first number not in use."""


class RetryRefusedError(Exception):
    """A retry that is not started; the subclass says why."""

    def __init__(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        super().__init__(campaign_id)


class RetriedCampaignRunningError(RetryRefusedError):
    """The campaign still runs: its rows may still fail, converge or be written, so what failed
    is not known yet, and a retry could write a SIM the campaign is writing."""


class RetryIdInUseError(RetryRefusedError):
    """The ID asked for the retry names a campaign that exists (`campaign_id` is that ID)."""


class NothingToRetryError(RetryRefusedError):
    """No row of the campaign ended as `source` chooses."""

    def __init__(self, campaign_id: str, source: CampaignSource) -> None:
        super().__init__(campaign_id)
        self.source = source


def store_exists(settings: SimopsSettings, campaign_id: str) -> bool:
    """Whether a campaign store of this ID exists (whatever its state)."""
    try:
        CampaignStore.open(store_backend(settings), campaign_id).close()
    except CampaignNotFoundError:
        return False
    return True


async def id_in_use(client: Client, settings: SimopsSettings, campaign_id: str) -> bool:
    """Whether a campaign of this ID was ever created (a store) or started (a workflow)."""
    if await asyncio.to_thread(store_exists, settings, campaign_id):
        return True
    return await campaign_status(client, campaign_id) is not None


async def retry_id(
    client: Client, settings: SimopsSettings, campaign_id: str, given: str | None
) -> str:
    """The retry's ID: `given`, refused (`RetryIdInUseError`) when in use; else `ID-retry-N`
    with the first N from 1 not in use."""
    if given is not None:
        if await id_in_use(client, settings, given):
            raise RetryIdInUseError(given)
        return given
    number = 1
    while await id_in_use(client, settings, f"{campaign_id}{RETRY_SUFFIX}{number}"):
        number += 1
    return f"{campaign_id}{RETRY_SUFFIX}{number}"


def _has_retried_rows(settings: SimopsSettings, campaign_id: str, source: CampaignSource) -> bool:
    with CampaignStore.open(store_backend(settings), campaign_id) as earlier:
        return any(islice(earlier.retried_rows(source), 1))


async def retry_spec(
    client: Client,
    settings: SimopsSettings,
    earlier: CampaignSpec,
    *,
    new_id: str | None,
    only_codes: list[int],
    include_cancelled: bool,
) -> CampaignSpec:
    """The spec of a retry of the ended campaign `earlier`: the same action, Fleet, controls and
    migration under its own ID (`new_id`, else `ID-retry-N`), over the rows that ended `failed`
    (those with one of `only_codes`, when given; with `include_cancelled`, `cancelled` rows
    too). A `RetryRefusedError` says why there is none; a `ValidationError` when `new_id` is
    not a campaign ID."""
    campaign_id = earlier.campaign_id
    if await campaign_status(client, campaign_id) == WorkflowExecutionStatus.RUNNING:
        raise RetriedCampaignRunningError(campaign_id)
    source = CampaignSource(
        retry_of=campaign_id,
        retry_codes=sorted(set(only_codes)),
        retry_cancelled=include_cancelled,
    )
    identifier = await retry_id(client, settings, campaign_id, new_id)
    spec = CampaignSpec.model_validate(
        # A retry runs the rows it copies once: a continuous campaign's scans are not its own.
        {
            **earlier.model_dump(),
            "campaign_id": identifier,
            "source": source.model_dump(),
            "continuous": None,
        }
    )
    if not await asyncio.to_thread(_has_retried_rows, settings, campaign_id, source):
        raise NothingToRetryError(campaign_id, source)
    return spec
