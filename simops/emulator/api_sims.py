"""`/v1/Sims`: register, fetch, list, update, and the BillingPeriods and IpAddresses of a Sim."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from simops.core.codes import RuleCode
from simops.core.sim import REQUESTABLE_STATUSES, SID_PATTERN, CallbackMethod, SimStatus, SimUpdate
from simops.emulator.context import context_of, requester_of
from simops.emulator.errors import ApiError, invalid_parameter, not_found
from simops.emulator.forms import Params, form_params, query_params
from simops.emulator.pagination import SegmentedSource
from simops.emulator.render import billing_period_json, sim_json_bytes
from simops.emulator.responses import (
    api_root,
    encoded_json_response,
    encoded_list_response,
    list_response,
)
from simops.emulator.state import AccountRecord, SimRecord, Store

STATUS_PARAM = {status.value: status for status in REQUESTABLE_STATUSES}
SIM_LIST_FILTERS = ("Status", "Fleet", "Iccid")


def find_sim_or_404(store: Store, requester: AccountRecord, ref: str) -> SimRecord:
    """A Sim visible to `requester` by SID or unique name, else 404 / 20404."""
    sim = store.find_sim(requester, ref)
    if sim is None:
        raise not_found("Sim", ref)
    return sim


async def register_sim(request: web.Request) -> web.Response:
    """`POST /v1/Sims`: claim an inventory ICCID with its registration code."""
    context = context_of(request)
    requester = requester_of(request)
    params = await form_params(request)
    iccid = params.required("Iccid", RuleCode.MISSING_PARAMETER)
    code = params.required("RegistrationCode", RuleCode.MISSING_PARAMETER)
    store = context.store
    existing = store.find_by_iccid(iccid)
    if existing is not None and existing.account_sid == requester.sid:
        raise ApiError(400, RuleCode.ALREADY_REGISTERED, "This Sim is already on this account")
    if existing is not None or store.inventory.get(iccid) != code:
        raise ApiError(
            400,
            RuleCode.NOT_REGISTRABLE,
            "The ICCID and registration code do not match a Super SIM that can be registered",
        )
    store.claim_inventory(iccid)
    sim = store.add_sim(requester, context.ids.sid("HS"), context.clock.now(), iccid)
    return encoded_json_response(sim_json_bytes(sim, api_root(request)), 201)


async def fetch_sim(request: web.Request) -> web.Response:
    """`GET /v1/Sims/{sid}` by SID or unique name."""
    sim = find_sim_or_404(
        context_of(request).store, requester_of(request), request.match_info["sid"]
    )
    return encoded_json_response(sim_json_bytes(sim, api_root(request)))


def _sim_filter(
    store: Store, requester: AccountRecord, params: Params
) -> Callable[[SimRecord], bool] | None:
    """The predicate of the Status and Fleet filters; None when nothing can match."""
    status = params.choice("Status", SimStatus)
    fleet_ref = params.text("Fleet")
    fleet_sid: str | None = None
    if fleet_ref:
        fleet = store.find_visible_fleet(requester, fleet_ref)
        if fleet is None:
            return None
        fleet_sid = fleet.sid
    if status is None and fleet_sid is None:
        return lambda sim: True
    if fleet_sid is None:
        return lambda sim: sim.status is status
    if status is None:
        return lambda sim: sim.fleet_sid == fleet_sid
    return lambda sim: sim.status is status and sim.fleet_sid == fleet_sid


async def list_sims(request: web.Request) -> web.Response:
    """`GET /v1/Sims?Status=&Fleet=&Iccid=`: the requester's Sims, and its children's."""
    store = context_of(request).store
    requester = requester_of(request)
    params = query_params(request)
    keep = _sim_filter(store, requester, params)
    iccid = params.text("Iccid")
    segments: list[list[SimRecord | None]]
    if keep is None:
        segments = []
    elif iccid is not None:
        sim = store.find_by_iccid(iccid)
        visible = sim is not None and store.can_see(requester, sim.account_sid)
        segments = [[sim]] if visible else []
    else:
        segments = [account.sims for account in store.scope(requester)]
    source = SegmentedSource(segments, keep or (lambda sim: False))
    api = api_root(request)
    return encoded_list_response(
        request, params, source, "sims", SIM_LIST_FILTERS, lambda sim: sim_json_bytes(sim, api)
    )


def parse_update(params: Params) -> SimUpdate:
    """The parameters of a Sim update, syntax-checked."""
    account_sid = params.text("AccountSid")
    if account_sid is not None and not (SID_PATTERN.match(account_sid) and account_sid[:2] == "AC"):
        raise invalid_parameter("AccountSid", "must be an Account SID (AC + 32 hex digits)")
    unique_name = params.text("UniqueName")
    if unique_name and SID_PATTERN.match(unique_name):
        raise invalid_parameter("UniqueName", "cannot have the shape of a SID")
    return SimUpdate(
        status=params.restricted("Status", STATUS_PARAM),
        fleet=params.text("Fleet"),
        account_sid=account_sid,
        unique_name=unique_name,
        callback_url=params.url("CallbackUrl"),
        callback_method=params.choice("CallbackMethod", CallbackMethod),
    )


async def update_sim(request: web.Request) -> web.Response:
    """`POST /v1/Sims/{sid}`: 200 when applied at once or a no-op, 202 when scheduled."""
    context = context_of(request)
    requester = requester_of(request)
    sim = find_sim_or_404(context.store, requester, request.match_info["sid"])
    update = parse_update(await form_params(request))
    status = context.lifecycle.update(requester, sim, update)
    return encoded_json_response(sim_json_bytes(sim, api_root(request)), status)


async def list_billing_periods(request: web.Request) -> web.Response:
    """`GET /v1/Sims/{sid}/BillingPeriods`: the periods that belong to the Sim's account."""
    context = context_of(request)
    sim = find_sim_or_404(context.store, requester_of(request), request.match_info["sid"])
    context.lifecycle.renew_periods(sim, context.clock.now())
    account_sid = sim.account_sid
    source = SegmentedSource(
        [context.store.periods.of_sim(sim)], lambda period: period.account_sid == account_sid
    )
    return list_response(
        request, query_params(request), source, "billing_periods", (), billing_period_json
    )


async def list_ip_addresses(request: web.Request) -> web.Response:
    """`GET /v1/Sims/{sid}/IpAddresses`: one private IPv4 address while the Sim can connect."""
    store = context_of(request).store
    sim = find_sim_or_404(store, requester_of(request), request.match_info["sid"])
    addresses = []
    if sim.effective_status() in (SimStatus.READY, SimStatus.ACTIVE):
        host = int(sim.sid[-6:], 16)
        addresses.append(
            {
                "ip_address": f"10.{host >> 16 & 255}.{host >> 8 & 255}.{host & 255}",
                "ip_address_version": "IPv4",
            }
        )
    source = SegmentedSource([addresses], lambda address: True)
    return list_response(
        request, query_params(request), source, "ip_addresses", (), lambda address: address
    )


def add_routes(app: web.Application) -> None:
    """Register the Sim routes."""
    app.router.add_post("/v1/Sims", register_sim)
    app.router.add_get("/v1/Sims", list_sims)
    app.router.add_get("/v1/Sims/{sid}", fetch_sim)
    app.router.add_post("/v1/Sims/{sid}", update_sim)
    app.router.add_get("/v1/Sims/{sid}/BillingPeriods", list_billing_periods)
    app.router.add_get("/v1/Sims/{sid}/IpAddresses", list_ip_addresses)
