"""The async Super SIM API client every part of simops talks to the API through.

One `SuperSimClient` per process (or per account) shares one pool of HTTP connections and the
account's request budget; every call returns the pydantic models of `simops.messages` or raises
a typed `SuperSimError` (see `errors.py`), after the retries `transport.py` describes.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from yarl import URL

from simops.core.codes import RuleCode
from simops.core.sim import CallbackMethod, SimStatus, SimUpdate, is_sid
from simops.runtime.http_client import HttpClient
from simops.runtime.settings import SimopsSettings
from simops.supersim.auth import AuthProvider, auth_from_settings
from simops.supersim.errors import NotFoundError, TransportError, mask_iccid
from simops.supersim.http import Exchange
from simops.supersim.pacing import RequestBudget, budgets_for
from simops.supersim.resources import (
    BillingPeriod,
    Fleet,
    NetworkAccessProfile,
    Resource,
    SettingsUpdate,
    Sim,
    SimSummary,
    SmsCommand,
    UsageRecord,
)
from simops.supersim.transport import ApiTransport, BeforeSend
from simops.supersim.wire import (
    FormParameters,
    ParameterValue,
    decode_list,
    decode_object,
    encode_parameters,
    peek_next_page_url,
)

ResourceT = TypeVar("ResourceT", bound=Resource)

MAX_PAGE_SIZE = 1000
"""The largest `PageSize` the API accepts for most lists."""

MAX_USAGE_RECORD_PAGE_SIZE = 249
"""UsageRecords pages are smaller: at most 249 records."""

ICCID_REFERENCE = re.compile(r"^\d{18,22}$")
"""What `resolve_sim` takes for an ICCID (a unique name of 18-22 digits would be shadowed)."""


class SimPage(BaseModel):
    """One page of a listing of Sims and the URL of the next one (`None` on the last page)."""

    model_config = ConfigDict(frozen=True)

    sims: list[SimSummary]
    next_page_url: str | None = None


class SimUpdateResult(BaseModel):
    """The Sim as an update left it; `accepted_async` when the API answered 202 (`scheduled`)."""

    model_config = ConfigDict(frozen=True)

    sim: Sim
    accepted_async: bool


def _segment(value: str) -> str:
    """A SID or unique name as one percent-encoded path segment."""
    return quote(value, safe="")


def _check_page_size(page_size: int, maximum: int = MAX_PAGE_SIZE) -> int:
    if not 1 <= page_size <= maximum:
        raise ValueError(f"page_size must be between 1 and {maximum}, not {page_size}")
    return page_size


def _parse(model: type[ResourceT], document: dict[str, Any]) -> ResourceT:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise TransportError(
            f"The Super SIM API answered with a {model.__name__} simops cannot read: "
            f"{error.error_count()} invalid field(s)"
        ) from error


def _parse_body(model: type[ResourceT], raw_body: bytes) -> ResourceT:
    """The resource a response body holds, parsed straight from the JSON (twice as fast as
    decoding first: the worker reads thousands a second); a body that does not validate goes
    through `decode_object` and `_parse` for the precise error."""
    try:
        return model.model_validate_json(raw_body)
    except ValidationError:
        return _parse(model, decode_object(raw_body))


class _PageMeta(BaseModel):
    """What paging needs of a list page's `meta`."""

    key: str | None = None
    next_page_url: str | None = None


class _ListPage(BaseModel, Generic[ResourceT]):
    """A whole list page; `_page_model` names its items' key."""

    items: list[ResourceT]
    meta: _PageMeta = _PageMeta()


@functools.cache
def _page_model(model: type[ResourceT], key: str) -> type[_ListPage[ResourceT]]:
    # The resource type is a run-time value here, which mypy cannot check as a type argument.
    return create_model(
        f"{model.__name__}ListPage",
        __base__=_ListPage[model],  # type: ignore[valid-type]
        items=(list[model], Field(alias=key)),  # type: ignore[valid-type]
    )


async def _discard(request: asyncio.Future[Exchange]) -> None:
    """Cancel a request asked for ahead that is not wanted after all, and let it end."""
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)


def _parse_page(
    model: type[ResourceT], raw_body: bytes, key: str
) -> tuple[list[ResourceT], str | None]:
    """A list page's resources and the URL of the next page, parsed straight from the JSON
    (three times as fast as decoding it, then validating item by item: a campaign lists whole
    accounts). A page that does not validate, or whose `meta.key` names another array, goes
    through `decode_list` and `_parse`, which say precisely what is wrong."""
    try:
        page = _page_model(model, key).model_validate_json(raw_body)
    except ValidationError:
        pass
    else:
        if page.meta.key in (None, key):
            return page.items, page.meta.next_page_url or None
    envelope = decode_list(raw_body, key)
    return [_parse(model, item) for item in envelope.items], envelope.next_page_url


class SuperSimClient:
    """Typed, paced access to the Super SIM API (Sims, Fleets and their related resources).

    Credentials come from `settings` unless `auth` is given (KORE OAuth2 when a client id and
    secret are configured, else a bearer token, else Twilio Basic); the budget is the account's
    process-wide one unless `budget` is given; its connections are its own unless `http` is
    given (the client then leaves them open on `close`).
    """

    def __init__(
        self,
        settings: SimopsSettings,
        *,
        http: HttpClient | None = None,
        auth: AuthProvider | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        self.settings = settings
        self._transport = ApiTransport(
            settings,
            auth=auth if auth is not None else auth_from_settings(settings),
            budget=budget if budget is not None else budgets_for(settings),
            http=http,
        )

    @classmethod
    def from_settings(cls, settings: SimopsSettings) -> SuperSimClient:
        """A client with the credentials, limits and shared budget `settings` configure."""
        return cls(settings)

    @property
    def auth(self) -> AuthProvider:
        """The provider of this client's credentials."""
        return self._transport.auth

    @property
    def budget(self) -> RequestBudget:
        """The budget this client's requests are paced by."""
        return self._transport.budget

    def paced_by(self, budget: RequestBudget) -> SuperSimClient:
        """A client on the same connections and credentials whose requests are paced by `budget`
        instead (one that includes the account's, such as a campaign's part of it)."""
        return SuperSimClient(
            self.settings,
            http=self._transport.http,
            auth=self._transport.auth,
            budget=budget,
        )

    async def __aenter__(self) -> SuperSimClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections (when the client opened them)."""
        await self._transport.close()

    async def _read(self, url: URL, params: FormParameters | None = None) -> Exchange:
        return await self._transport.request("GET", url, params=params, repeatable=True)

    async def _write(self, path: str, **fields: ParameterValue) -> Exchange:
        return await self._transport.request(
            "POST", self._transport.url(path), form=encode_parameters(**fields), repeatable=False
        )

    async def _fetch(self, model: type[ResourceT], path: str) -> ResourceT:
        response = await self._read(self._transport.url(path))
        return _parse_body(model, response.body)

    async def _follow(self, page_url: str) -> Exchange:
        return await self._read(self._transport.follow(page_url))

    async def _page_stream(
        self, model: type[ResourceT], first: Exchange, key: str, pages_wanted: int | None = None
    ) -> AsyncGenerator[tuple[list[ResourceT], str | None]]:
        """Every page of a list from its first, with the URL of the next (`None` on the last).

        Pages come one after the other, since each names the next; so the next is asked for
        before this one is parsed, from the URL the end of its body gives
        (`peek_next_page_url`), and again from the parsed URL should they differ. Parsing a
        page of 1,000 Sims takes about as long as the API takes to answer one. None is asked
        for ahead beyond the `pages_wanted`-th (a list with a limit): a later one is asked for
        only if the caller goes on.
        """
        response = first
        ahead: asyncio.Future[Exchange] | None = None
        in_hand = 1
        try:
            while True:
                wanted = pages_wanted is None or in_hand < pages_wanted
                hint = peek_next_page_url(response.body) if wanted else None
                if hint is not None:
                    ahead = asyncio.ensure_future(self._follow(hint))
                    # A task runs only when the loop next does, and the parse below holds the
                    # loop: let the request go out first, or the API waits for the parse.
                    await asyncio.sleep(0)
                items, next_page_url = _parse_page(model, response.body, key)
                if ahead is not None and hint != next_page_url:
                    await _discard(ahead)
                    ahead = None
                yield items, next_page_url
                if next_page_url is None:
                    return
                response = await (ahead if ahead is not None else self._follow(next_page_url))
                ahead = None
                in_hand += 1
        finally:
            if ahead is not None:
                await _discard(ahead)

    async def _pages(
        self,
        model: type[ResourceT],
        path: str,
        key: str,
        params: FormParameters,
        pages_wanted: int | None = None,
    ) -> AsyncGenerator[list[ResourceT]]:
        """Every page of a list, following `next_page_url` verbatim until it is null."""
        first = await self._read(self._transport.url(path), params)
        async with aclosing(self._page_stream(model, first, key, pages_wanted)) as pages:
            async for items, _ in pages:
                yield items

    async def _collect(
        self,
        model: type[ResourceT],
        path: str,
        key: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        **filters: ParameterValue,
    ) -> list[ResourceT]:
        params = encode_parameters(**filters, page_size=page_size)
        return [item async for items in self._pages(model, path, key, params) for item in items]

    # Sims

    async def fetch_sim(self, sid_or_unique_name: str) -> Sim:
        """One Sim by SID or unique name; `NotFoundError` when the account has none."""
        return await self._fetch(Sim, f"Sims/{_segment(sid_or_unique_name)}")

    async def find_sim_by_iccid(self, iccid: str) -> Sim | None:
        """The account's Sim with this ICCID, or `None` (the API's list filter gives 0 or 1)."""
        params = encode_parameters(iccid=iccid, page_size=1)
        response = await self._read(self._transport.url("Sims"), params)
        sims, _ = _parse_page(Sim, response.body, "sims")
        return sims[0] if sims else None

    async def resolve_sim(self, reference: str) -> Sim:
        """A Sim by SID (`HS…`), ICCID (18-22 digits) or unique name; `NotFoundError` if none."""
        reference = reference.strip()
        if ICCID_REFERENCE.match(reference) and not is_sid(reference, "HS"):
            sim = await self.find_sim_by_iccid(reference)
            if sim is None:
                raise NotFoundError(
                    f"No SIM with ICCID {mask_iccid(reference)} on this account",
                    code=int(RuleCode.NOT_FOUND),
                )
            return sim
        return await self.fetch_sim(reference)

    async def list_sims(
        self,
        *,
        status: SimStatus | None = None,
        fleet: str | None = None,
        iccid: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        limit: int | None = None,
    ) -> AsyncIterator[Sim]:
        """Every Sim matching the filters (at most `limit`), page after page as they arrive."""
        if limit is not None and limit <= 0:
            return
        size = _check_page_size(min(page_size, limit) if limit is not None else page_size)
        params = encode_parameters(status=status, fleet=fleet, iccid=iccid, page_size=size)
        pages_wanted = math.ceil(limit / size) if limit is not None else None
        yielded = 0
        async with aclosing(self._pages(Sim, "Sims", "sims", params, pages_wanted)) as pages:
            async for sims in pages:
                for sim in sims:
                    yield sim
                    yielded += 1
                    if limit is not None and yielded >= limit:
                        return

    async def list_sims_page(
        self,
        *,
        page_url: str | None = None,
        status: SimStatus | None = None,
        fleet: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> SimPage:
        """One page of Sims: the first page of the filters, or the page `page_url` names.

        For callers that page durably (an activity per page): keep `next_page_url` and pass it
        back as `page_url`; the filters then come from the URL and the others are ignored.
        """
        response = await self._first_sims_page(page_url, status, fleet, page_size)
        sims, next_page_url = _parse_page(SimSummary, response.body, "sims")
        return SimPage(sims=sims, next_page_url=next_page_url)

    async def list_sim_pages(
        self,
        *,
        page_url: str | None = None,
        status: SimStatus | None = None,
        fleet: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> AsyncGenerator[SimPage]:
        """Every page of Sims from the first of the filters (or from `page_url`), each asked
        for while the one before is parsed: how a campaign lists a whole account. Close the
        generator (`aclosing`) to stop early; the page asked for ahead is then dropped."""
        first = await self._first_sims_page(page_url, status, fleet, page_size)
        async with aclosing(self._page_stream(SimSummary, first, "sims")) as pages:
            async for sims, next_page_url in pages:
                yield SimPage(sims=sims, next_page_url=next_page_url)

    async def _first_sims_page(
        self, page_url: str | None, status: SimStatus | None, fleet: str | None, page_size: int
    ) -> Exchange:
        if page_url is not None:
            return await self._follow(page_url)
        params = encode_parameters(
            status=status, fleet=fleet, page_size=_check_page_size(page_size)
        )
        return await self._read(self._transport.url("Sims"), params)

    async def update_sim(
        self,
        sid: str,
        update: SimUpdate,
        *,
        before_send: BeforeSend | None = None,
    ) -> SimUpdateResult:
        """Send one update; a write is retried only after a 429 (see `transport.py`).

        `before_send` runs immediately before each attempt is sent, after any pacing wait:
        the place for a last check that may withhold the write (a campaign's stop).
        """
        response = await self._transport.request(
            "POST",
            self._transport.url(f"Sims/{_segment(sid)}"),
            form=list(update.form().items()),
            repeatable=False,
            before_send=before_send,
        )
        return SimUpdateResult(
            sim=_parse_body(Sim, response.body), accepted_async=response.status == 202
        )

    async def register_sim(self, iccid: str, registration_code: str) -> Sim:
        """Register a SIM on the account; it starts `new`."""
        response = await self._write("Sims", iccid=iccid, registration_code=registration_code)
        return _parse_body(Sim, response.body)

    async def list_billing_periods(self, sim_sid: str) -> list[BillingPeriod]:
        """The billing periods of one Sim (none while it is `new`)."""
        return await self._collect(
            BillingPeriod, f"Sims/{_segment(sim_sid)}/BillingPeriods", "billing_periods"
        )

    # Fleets

    async def list_fleets(self, *, network_access_profile: str | None = None) -> list[Fleet]:
        """Every Fleet of the account, optionally those of one NetworkAccessProfile."""
        return await self._collect(
            Fleet, "Fleets", "fleets", network_access_profile=network_access_profile
        )

    async def fetch_fleet(self, sid_or_unique_name: str) -> Fleet:
        """One Fleet by SID or unique name; `NotFoundError` when the account has none."""
        return await self._fetch(Fleet, f"Fleets/{_segment(sid_or_unique_name)}")

    async def create_fleet(
        self,
        *,
        network_access_profile: str,
        unique_name: str | None = None,
        data_enabled: bool | None = None,
        data_limit: int | None = None,
        ip_commands_url: str | None = None,
        ip_commands_method: CallbackMethod | None = None,
        sms_commands_enabled: bool | None = None,
        sms_commands_url: str | None = None,
        sms_commands_method: CallbackMethod | None = None,
    ) -> Fleet:
        """Create a Fleet; `None` leaves a parameter to the API's default."""
        response = await self._write(
            "Fleets",
            network_access_profile=network_access_profile,
            unique_name=unique_name,
            data_enabled=data_enabled,
            data_limit=data_limit,
            ip_commands_url=ip_commands_url,
            ip_commands_method=ip_commands_method,
            sms_commands_enabled=sms_commands_enabled,
            sms_commands_url=sms_commands_url,
            sms_commands_method=sms_commands_method,
        )
        return _parse_body(Fleet, response.body)

    async def update_fleet(
        self,
        sid_or_unique_name: str,
        *,
        unique_name: str | None = None,
        network_access_profile: str | None = None,
        data_limit: int | None = None,
        ip_commands_url: str | None = None,
        ip_commands_method: CallbackMethod | None = None,
        sms_commands_url: str | None = None,
        sms_commands_method: CallbackMethod | None = None,
    ) -> Fleet:
        """Update a Fleet; only the parameters given are sent."""
        response = await self._write(
            f"Fleets/{_segment(sid_or_unique_name)}",
            unique_name=unique_name,
            network_access_profile=network_access_profile,
            data_limit=data_limit,
            ip_commands_url=ip_commands_url,
            ip_commands_method=ip_commands_method,
            sms_commands_url=sms_commands_url,
            sms_commands_method=sms_commands_method,
        )
        return _parse_body(Fleet, response.body)

    # NetworkAccessProfiles

    async def list_network_access_profiles(self) -> list[NetworkAccessProfile]:
        """Every NetworkAccessProfile of the account."""
        return await self._collect(
            NetworkAccessProfile, "NetworkAccessProfiles", "network_access_profiles"
        )

    async def fetch_network_access_profile(self, sid_or_unique_name: str) -> NetworkAccessProfile:
        """One NetworkAccessProfile by SID or unique name."""
        return await self._fetch(
            NetworkAccessProfile, f"NetworkAccessProfiles/{_segment(sid_or_unique_name)}"
        )

    async def create_network_access_profile(
        self, *, unique_name: str | None = None, networks: Sequence[str] = ()
    ) -> NetworkAccessProfile:
        """Create a NetworkAccessProfile, optionally with its Network SIDs."""
        response = await self._write(
            "NetworkAccessProfiles", unique_name=unique_name, networks=list(networks) or None
        )
        return _parse_body(NetworkAccessProfile, response.body)

    # SettingsUpdates, UsageRecords, SmsCommands

    async def list_settings_updates(
        self, *, sim: str | None = None, status: str | None = None
    ) -> list[SettingsUpdate]:
        """SettingsUpdates, optionally of one Sim (SID or ICCID) and in one status."""
        return await self._collect(
            SettingsUpdate, "SettingsUpdates", "settings_updates", sim=sim, status=status
        )

    async def list_usage_records(
        self,
        *,
        sim: str | None = None,
        fleet: str | None = None,
        network: str | None = None,
        iso_country: str | None = None,
        group: str | None = None,
        granularity: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> list[UsageRecord]:
        """UsageRecords matching the filters (`granularity`: `hour`, `day` or `all`)."""
        return await self._collect(
            UsageRecord,
            "UsageRecords",
            "usage_records",
            page_size=MAX_USAGE_RECORD_PAGE_SIZE,
            sim=sim,
            fleet=fleet,
            network=network,
            iso_country=iso_country,
            group=group,
            granularity=granularity,
            start_time=start_time,
            end_time=end_time,
        )

    async def create_sms_command(
        self,
        sim: str,
        payload: str,
        *,
        callback_url: str | None = None,
        callback_method: CallbackMethod | None = None,
    ) -> SmsCommand:
        """Send an SMS Command to a Sim (by SID or unique name)."""
        response = await self._write(
            "SmsCommands",
            sim=sim,
            payload=payload,
            callback_url=callback_url,
            callback_method=callback_method,
        )
        return _parse_body(SmsCommand, response.body)

    async def list_sms_commands(
        self, *, sim: str | None = None, status: str | None = None, direction: str | None = None
    ) -> list[SmsCommand]:
        """SmsCommands, optionally of one Sim, in one status or one direction."""
        return await self._collect(
            SmsCommand, "SmsCommands", "sms_commands", sim=sim, status=status, direction=direction
        )
