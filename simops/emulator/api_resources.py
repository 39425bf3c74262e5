"""`/v1/Fleets`, `/v1/NetworkAccessProfiles` (with their Networks) and `/v1/Networks`.

Fleets and profiles belong to one account and are seen with that account's credentials only.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from aiohttp import web

from simops.core.codes import RuleCode
from simops.core.sim import SID_PATTERN
from simops.emulator.context import context_of, requester_of
from simops.emulator.errors import ApiError, invalid_parameter, not_found
from simops.emulator.forms import Params, form_params, query_params
from simops.emulator.pagination import SegmentedSource
from simops.emulator.render import fleet_json, network_json, profile_json, profile_network_json
from simops.emulator.responses import api_root, json_response, list_response
from simops.emulator.state import (
    AccountRecord,
    FleetRecord,
    NetworkAccessProfileRecord,
    NetworkRecord,
    Store,
)

MAX_DATA_LIMIT_MB = 2_000_000


class HttpMethod(StrEnum):
    """The methods a command webhook may use."""

    GET = "GET"
    POST = "POST"


def _unique_name(params: Params, taken: Mapping[str, object], current: object | None) -> str | None:
    name = params.text("UniqueName")
    if name is None:
        return None
    if SID_PATTERN.match(name):
        raise invalid_parameter("UniqueName", "cannot have the shape of a SID")
    holder = taken.get(name)
    if name and holder is not None and holder is not current:
        raise ApiError(
            400, RuleCode.DUPLICATE_UNIQUE_NAME, f"The unique name {name[:64]} is already in use"
        )
    return name


def _profile_param(store: Store, account: AccountRecord, params: Params) -> str | None:
    ref = params.text("NetworkAccessProfile")
    if ref is None:
        return None
    profile = store.find_profile(account, ref)
    if profile is None:
        raise invalid_parameter("NetworkAccessProfile", f"{ref[:64]} was not found")
    return profile.sid


def _fleet_or_404(store: Store, account: AccountRecord, ref: str) -> FleetRecord:
    fleet = store.find_fleet(account, ref)
    if fleet is None:
        raise not_found("Fleet", ref)
    return fleet


def _fleet_settings(params: Params) -> dict[str, object]:
    """The Fleet settings create and update share, all checked before any is applied."""
    settings: dict[str, object] = {}
    data_limit = params.integer("DataLimit", 1, MAX_DATA_LIMIT_MB)
    if data_limit is not None:
        settings["data_limit"] = data_limit
    for url_param, method_param, url_field, method_field in (
        ("IpCommandsUrl", "IpCommandsMethod", "ip_commands_url", "ip_commands_method"),
        ("SmsCommandsUrl", "SmsCommandsMethod", "sms_commands_url", "sms_commands_method"),
    ):
        url = params.url(url_param)
        if url is not None:
            settings[url_field] = url
        method = params.choice(method_param, HttpMethod)
        if method is not None:
            settings[method_field] = method.value
    return settings


def _apply(fleet: FleetRecord, settings: dict[str, object]) -> None:
    for name, value in settings.items():
        setattr(fleet, name, value)


async def create_fleet(request: web.Request) -> web.Response:
    """`POST /v1/Fleets` (needs `NetworkAccessProfile`)."""
    context = context_of(request)
    account = requester_of(request)
    params = await form_params(request)
    if not params.text("NetworkAccessProfile"):
        raise ApiError(
            400, RuleCode.INVALID_PARAMETER, "Missing required parameter NetworkAccessProfile"
        )
    profile_sid = _profile_param(context.store, account, params)
    assert profile_sid is not None
    unique_name = _unique_name(params, account.fleet_names, None)
    data_enabled = params.boolean("DataEnabled")
    settings = _fleet_settings(params)
    settings["data_enabled"] = True if data_enabled is None else data_enabled
    settings["sms_commands_enabled"] = bool(params.boolean("SmsCommandsEnabled"))
    now = context.clock.now()
    fleet = FleetRecord(
        sid=context.ids.sid("HF"),
        account_sid=account.sid,
        unique_name=unique_name or None,
        network_access_profile_sid=profile_sid,
        date_created=now,
        date_updated=now,
    )
    _apply(fleet, settings)
    context.store.add_fleet(fleet)
    return json_response(fleet_json(fleet, api_root(request)), 201)


async def list_fleets(request: web.Request) -> web.Response:
    """`GET /v1/Fleets?NetworkAccessProfile=`."""
    context = context_of(request)
    account = requester_of(request)
    params = query_params(request)
    profile_ref = params.text("NetworkAccessProfile")
    profile = context.store.find_profile(account, profile_ref) if profile_ref else None
    profile_sid = profile.sid if profile is not None else None
    fleets: list[FleetRecord | None] = list(account.fleets.values())
    if profile_ref and profile is None:
        fleets = []
    source = SegmentedSource(
        [fleets],
        lambda fleet: profile_sid is None or fleet.network_access_profile_sid == profile_sid,
    )
    api = api_root(request)
    return list_response(
        request,
        params,
        source,
        "fleets",
        ("NetworkAccessProfile",),
        lambda fleet: fleet_json(fleet, api),
    )


async def fetch_fleet(request: web.Request) -> web.Response:
    """`GET /v1/Fleets/{sid}` by SID or unique name."""
    context = context_of(request)
    fleet = _fleet_or_404(context.store, requester_of(request), request.match_info["sid"])
    return json_response(fleet_json(fleet, api_root(request)))


async def update_fleet(request: web.Request) -> web.Response:
    """`POST /v1/Fleets/{sid}`."""
    context = context_of(request)
    account = requester_of(request)
    fleet = _fleet_or_404(context.store, account, request.match_info["sid"])
    params = await form_params(request)
    unique_name = _unique_name(params, account.fleet_names, fleet)
    profile_sid = _profile_param(context.store, account, params)
    _apply(fleet, _fleet_settings(params))
    if unique_name is not None:
        context.store.rename_fleet(fleet, unique_name or None)
    if profile_sid is not None:
        fleet.network_access_profile_sid = profile_sid
    fleet.date_updated = context.clock.now()
    context.store.dirty_resources = True
    return json_response(fleet_json(fleet, api_root(request)))


def _profile_or_404(store: Store, account: AccountRecord, ref: str) -> NetworkAccessProfileRecord:
    profile = store.find_profile(account, ref)
    if profile is None:
        raise not_found("NetworkAccessProfile", ref)
    return profile


def _network_param(store: Store, ref: str, name: str) -> NetworkRecord:
    network = store.networks.get(ref)
    if network is None:
        raise invalid_parameter(name, f"{ref[:64]} is not a Network SID")
    return network


async def create_profile(request: web.Request) -> web.Response:
    """`POST /v1/NetworkAccessProfiles` with an optional `UniqueName` and `Networks`."""
    context = context_of(request)
    account = requester_of(request)
    params = await form_params(request)
    unique_name = _unique_name(params, account.profile_names, None)
    networks = [
        _network_param(context.store, ref, "Networks").sid for ref in params.values("Networks")
    ]
    now = context.clock.now()
    profile = NetworkAccessProfileRecord(
        sid=context.ids.sid("HA"),
        account_sid=account.sid,
        unique_name=unique_name or None,
        date_created=now,
        date_updated=now,
        network_sids=list(dict.fromkeys(networks)),
    )
    context.store.add_profile(profile)
    return json_response(profile_json(profile, api_root(request)), 201)


async def list_profiles(request: web.Request) -> web.Response:
    """`GET /v1/NetworkAccessProfiles`."""
    account = requester_of(request)
    profiles: list[NetworkAccessProfileRecord | None] = list(account.profiles.values())
    api = api_root(request)
    return list_response(
        request,
        query_params(request),
        SegmentedSource([profiles], lambda profile: True),
        "network_access_profiles",
        (),
        lambda profile: profile_json(profile, api),
    )


async def fetch_profile(request: web.Request) -> web.Response:
    """`GET /v1/NetworkAccessProfiles/{sid}`."""
    context = context_of(request)
    profile = _profile_or_404(context.store, requester_of(request), request.match_info["sid"])
    return json_response(profile_json(profile, api_root(request)))


async def update_profile(request: web.Request) -> web.Response:
    """`POST /v1/NetworkAccessProfiles/{sid}` (its `UniqueName`)."""
    context = context_of(request)
    account = requester_of(request)
    profile = _profile_or_404(context.store, account, request.match_info["sid"])
    params = await form_params(request)
    unique_name = _unique_name(params, account.profile_names, profile)
    if unique_name is not None:
        context.store.rename_profile(profile, unique_name or None)
        profile.date_updated = context.clock.now()
    return json_response(profile_json(profile, api_root(request)))


async def list_profile_networks(request: web.Request) -> web.Response:
    """`GET /v1/NetworkAccessProfiles/{sid}/Networks`."""
    context = context_of(request)
    profile = _profile_or_404(context.store, requester_of(request), request.match_info["sid"])
    networks: list[NetworkRecord | None] = [
        context.store.networks[sid] for sid in profile.network_sids
    ]
    api = api_root(request)
    return list_response(
        request,
        query_params(request),
        SegmentedSource([networks], lambda network: True),
        "networks",
        (),
        lambda network: profile_network_json(profile, network, api),
    )


async def add_profile_network(request: web.Request) -> web.Response:
    """`POST /v1/NetworkAccessProfiles/{sid}/Networks` with `Network`."""
    context = context_of(request)
    profile = _profile_or_404(context.store, requester_of(request), request.match_info["sid"])
    params = await form_params(request)
    ref = params.required("Network", RuleCode.INVALID_PARAMETER)
    network = _network_param(context.store, ref, "Network")
    if network.sid not in profile.network_sids:
        profile.network_sids.append(network.sid)
        context.store.dirty_resources = True
    return json_response(profile_network_json(profile, network, api_root(request)), 201)


def _profile_network(request: web.Request) -> tuple[NetworkAccessProfileRecord, NetworkRecord]:
    context = context_of(request)
    profile = _profile_or_404(context.store, requester_of(request), request.match_info["sid"])
    network_sid = request.match_info["network_sid"]
    network = context.store.networks.get(network_sid)
    if network is None or network_sid not in profile.network_sids:
        raise not_found("Network", network_sid)
    return profile, network


async def fetch_profile_network(request: web.Request) -> web.Response:
    """`GET /v1/NetworkAccessProfiles/{sid}/Networks/{network_sid}`."""
    profile, network = _profile_network(request)
    return json_response(profile_network_json(profile, network, api_root(request)))


async def remove_profile_network(request: web.Request) -> web.Response:
    """`DELETE /v1/NetworkAccessProfiles/{sid}/Networks/{network_sid}` (204)."""
    profile, network = _profile_network(request)
    profile.network_sids.remove(network.sid)
    context_of(request).store.dirty_resources = True
    return web.Response(status=204)


async def list_networks(request: web.Request) -> web.Response:
    """`GET /v1/Networks?IsoCountry=&Mcc=&Mnc=`."""
    store = context_of(request).store
    params = query_params(request)
    country, mcc, mnc = params.text("IsoCountry"), params.text("Mcc"), params.text("Mnc")

    def keep(network: NetworkRecord) -> bool:
        ids = network.identifiers
        return (
            (country is None or network.iso_country == country.upper())
            and (mcc is None or any(item["mcc"] == mcc for item in ids))
            and (mnc is None or any(item["mnc"] == mnc for item in ids))
        )

    networks: list[NetworkRecord | None] = list(store.networks.values())
    api = api_root(request)
    return list_response(
        request,
        params,
        SegmentedSource([networks], keep),
        "networks",
        ("IsoCountry", "Mcc", "Mnc"),
        lambda network: network_json(network, api),
    )


async def fetch_network(request: web.Request) -> web.Response:
    """`GET /v1/Networks/{sid}`."""
    store = context_of(request).store
    network = store.networks.get(request.match_info["sid"])
    if network is None:
        raise not_found("Network", request.match_info["sid"])
    return json_response(network_json(network, api_root(request)))


def add_routes(app: web.Application) -> None:
    """Register the Fleet, NetworkAccessProfile and Network routes."""
    router = app.router
    router.add_post("/v1/Fleets", create_fleet)
    router.add_get("/v1/Fleets", list_fleets)
    router.add_get("/v1/Fleets/{sid}", fetch_fleet)
    router.add_post("/v1/Fleets/{sid}", update_fleet)
    router.add_post("/v1/NetworkAccessProfiles", create_profile)
    router.add_get("/v1/NetworkAccessProfiles", list_profiles)
    router.add_get("/v1/NetworkAccessProfiles/{sid}", fetch_profile)
    router.add_post("/v1/NetworkAccessProfiles/{sid}", update_profile)
    router.add_get("/v1/NetworkAccessProfiles/{sid}/Networks", list_profile_networks)
    router.add_post("/v1/NetworkAccessProfiles/{sid}/Networks", add_profile_network)
    router.add_get("/v1/NetworkAccessProfiles/{sid}/Networks/{network_sid}", fetch_profile_network)
    router.add_delete(
        "/v1/NetworkAccessProfiles/{sid}/Networks/{network_sid}", remove_profile_network
    )
    router.add_get("/v1/Networks", list_networks)
    router.add_get("/v1/Networks/{sid}", fetch_network)
