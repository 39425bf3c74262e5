"""`/v1/SettingsUpdates`, `/v1/UsageRecords` and `/v1/SmsCommands`.

SettingsUpdates follow the Sim (visible to whoever sees the Sim now); UsageRecords and
SmsCommands stay with the account that incurred or sent them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web

from simops.core.codes import RuleCode
from simops.core.sim import ENABLED_STATUSES, CallbackMethod
from simops.core.wording import with_article
from simops.emulator.api_sims import find_sim_or_404
from simops.emulator.clock import iso, parse_iso
from simops.emulator.context import context_of, requester_of
from simops.emulator.errors import ApiError, invalid_parameter, not_found
from simops.emulator.forms import Params, form_params, query_params
from simops.emulator.lifecycle import add_months
from simops.emulator.pagination import SegmentedSource
from simops.emulator.render import settings_update_json, sms_command_json
from simops.emulator.responses import api_root, json_response, list_response
from simops.emulator.state import (
    AccountRecord,
    SettingsUpdateRecord,
    SmsCommandRecord,
    Store,
    UsageEntry,
)
from simops.supersim.resources import SettingsUpdateStatus

MAX_SMS_PAYLOAD = 160
BILLED_USD_PER_MEGABYTE = 0.1


class Granularity(StrEnum):
    """Time buckets of UsageRecords."""

    HOUR = "hour"
    DAY = "day"
    ALL = "all"


class UsageGroup(StrEnum):
    """Dimensions UsageRecords can be grouped by."""

    SIM = "sim"
    FLEET = "fleet"
    NETWORK = "network"
    ISO_COUNTRY = "isoCountry"


class SmsStatus(StrEnum):
    """Statuses of an SmsCommand."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    RECEIVED = "received"
    FAILED = "failed"


class SmsDirection(StrEnum):
    """Directions of an SmsCommand."""

    TO_SIM = "to_sim"
    FROM_SIM = "from_sim"


GROUP_FIELDS: dict[UsageGroup, str] = {
    UsageGroup.SIM: "sim_sid",
    UsageGroup.FLEET: "fleet_sid",
    UsageGroup.NETWORK: "network_sid",
    UsageGroup.ISO_COUNTRY: "iso_country",
}
BUCKET_SECONDS = {Granularity.HOUR: 3600, Granularity.DAY: 86400}


def _sim_sid_filter(store: Store, requester: AccountRecord, ref: str | None) -> str | None:
    """The SID a `Sim` filter names; an unknown Sim matches nothing (empty SID)."""
    if ref is None:
        return None
    sim = store.find_sim(requester, ref)
    return sim.sid if sim is not None else ""


async def list_settings_updates(request: web.Request) -> web.Response:
    """`GET /v1/SettingsUpdates?Sim=&Status=`."""
    store = context_of(request).store
    requester = requester_of(request)
    params = query_params(request)
    sim_sid = _sim_sid_filter(store, requester, params.text("Sim"))
    status = params.choice("Status", SettingsUpdateStatus)

    def keep(update: SettingsUpdateRecord) -> bool:
        if sim_sid is not None and update.sim_sid != sim_sid:
            return False
        if status is not None and update.status != status.value:
            return False
        sim = store.sims.get(update.sim_sid)
        return sim is not None and store.can_see(requester, sim.account_sid)

    return list_response(
        request,
        params,
        SegmentedSource([store.settings_updates], keep),
        "settings_updates",
        ("Sim", "Status"),
        settings_update_json,
    )


def _time_param(params: Params, name: str) -> float | None:
    value = params.text(name)
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise invalid_parameter(name, "must be an ISO-8601 date-time") from None


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """The UsageRecords filters, resolved; an unknown Sim or Fleet matches nothing ("")."""

    sim_sid: str | None
    fleet_sid: str | None
    network_sid: str | None
    iso_country: str | None

    @classmethod
    def of(cls, store: Store, requester: AccountRecord, params: Params) -> UsageFilter:
        """The filters of a request."""
        fleet_ref = params.text("Fleet")
        fleet = store.find_visible_fleet(requester, fleet_ref) if fleet_ref else None
        country = params.text("IsoCountry")
        return cls(
            sim_sid=_sim_sid_filter(store, requester, params.text("Sim")),
            fleet_sid=None if fleet_ref is None else (fleet.sid if fleet else ""),
            network_sid=params.text("Network"),
            iso_country=country.upper() if country else None,
        )

    def keep(self, entry: UsageEntry) -> bool:
        """Whether `entry` passes every filter."""
        return (
            (self.sim_sid is None or entry.sim_sid == self.sim_sid)
            and (self.fleet_sid is None or entry.fleet_sid == self.fleet_sid)
            and (self.network_sid is None or entry.network_sid == self.network_sid)
            and (self.iso_country is None or entry.iso_country == self.iso_country)
        )


def _usage_record(
    account_sid: str, filters: UsageFilter, start: float, end: float, upload: int, download: int
) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "sim_sid": filters.sim_sid or None,
        "fleet_sid": filters.fleet_sid or None,
        "network_sid": filters.network_sid,
        "iso_country": filters.iso_country,
        "period": {"start_time": iso(start), "end_time": iso(end)},
        "data_upload": upload,
        "data_download": download,
        "data_total": upload + download,
        "data_total_billed": round((upload + download) / 1e6 * BILLED_USD_PER_MEGABYTE, 6),
        "billed_unit": "USD",
    }


async def list_usage_records(request: web.Request) -> web.Response:
    """`GET /v1/UsageRecords`: usage summed per time bucket (and group), newest first."""
    context = context_of(request)
    store = context.store
    requester = requester_of(request)
    params = query_params(request)
    granularity = params.choice("Granularity", Granularity) or Granularity.ALL
    group = params.choice("Group", UsageGroup)
    end = _time_param(params, "EndTime") or context.clock.now()
    start = _time_param(params, "StartTime") or add_months(end, -1)
    if start >= end:
        raise invalid_parameter("StartTime", "must be before EndTime")
    filters = UsageFilter.of(store, requester, params)
    size = BUCKET_SECONDS.get(granularity)
    buckets: dict[tuple[float, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for entry in store.usage:
        if not (
            start <= entry.timestamp < end
            and store.can_see(requester, entry.account_sid)
            and filters.keep(entry)
        ):
            continue
        bucket_start = start if size is None else entry.timestamp - entry.timestamp % size
        group_value = getattr(entry, GROUP_FIELDS[group]) if group is not None else None
        totals = buckets[(bucket_start, group_value)]
        totals[0] += entry.upload
        totals[1] += entry.download
    if size is None and not buckets:
        buckets[(start, None)] = [0, 0]
    records: list[dict[str, Any]] = []
    for (bucket_start, group_value), (upload, download) in sorted(
        buckets.items(), key=lambda item: item[0][0], reverse=True
    ):
        bucket_end = end if size is None else bucket_start + size
        record = _usage_record(requester.sid, filters, bucket_start, bucket_end, upload, download)
        if group is not None:
            record[GROUP_FIELDS[group]] = group_value
        records.append(record)
    return list_response(
        request,
        params,
        SegmentedSource([records], lambda record: True),
        "usage_records",
        ("Sim", "Fleet", "Network", "IsoCountry", "Group", "Granularity", "StartTime", "EndTime"),
        lambda record: record,
    )


async def create_sms_command(request: web.Request) -> web.Response:
    """`POST /v1/SmsCommands` with `Sim` and `Payload`: counts towards ready -> active."""
    context = context_of(request)
    requester = requester_of(request)
    params = await form_params(request)
    sim_ref = params.required("Sim", RuleCode.INVALID_PARAMETER)
    payload = params.required("Payload", RuleCode.INVALID_PARAMETER)
    if len(payload) > MAX_SMS_PAYLOAD:
        raise invalid_parameter("Payload", f"longer than {MAX_SMS_PAYLOAD} characters")
    params.url("CallbackUrl")
    params.choice("CallbackMethod", CallbackMethod)
    sim = find_sim_or_404(context.store, requester, sim_ref)
    if sim.effective_status() not in ENABLED_STATUSES:
        raise ApiError(
            400,
            RuleCode.INVALID_PARAMETER,
            f"Invalid parameter Sim: {with_article(sim.effective_status())} Sim cannot receive "
            "SMS Commands",
        )
    now = context.clock.now()
    command = SmsCommandRecord(
        sid=context.ids.sid("HC"),
        account_sid=sim.account_sid,
        sim_sid=sim.sid,
        payload=payload,
        status=SmsStatus.QUEUED.value,
        direction=SmsDirection.TO_SIM.value,
        date_created=now,
        date_updated=now,
    )
    response = json_response(sms_command_json(command, api_root(request)), 201)
    command.status = SmsStatus.DELIVERED.value
    context.store.add_sms_command(command)
    context.lifecycle.record_sms(sim)
    return response


async def list_sms_commands(request: web.Request) -> web.Response:
    """`GET /v1/SmsCommands?Sim=&Status=&Direction=`."""
    store = context_of(request).store
    requester = requester_of(request)
    params = query_params(request)
    sim_sid = _sim_sid_filter(store, requester, params.text("Sim"))
    status = params.choice("Status", SmsStatus)
    direction = params.choice("Direction", SmsDirection)

    def keep(command: SmsCommandRecord) -> bool:
        return (
            store.can_see(requester, command.account_sid)
            and (sim_sid is None or command.sim_sid == sim_sid)
            and (status is None or command.status == status.value)
            and (direction is None or command.direction == direction.value)
        )

    api = api_root(request)
    return list_response(
        request,
        params,
        SegmentedSource([store.sms_commands], keep),
        "sms_commands",
        ("Sim", "Status", "Direction"),
        lambda command: sms_command_json(command, api),
    )


async def fetch_sms_command(request: web.Request) -> web.Response:
    """`GET /v1/SmsCommands/{sid}`."""
    store = context_of(request).store
    sid = request.match_info["sid"]
    command = store.sms_by_sid.get(sid)
    if command is None or not store.can_see(requester_of(request), command.account_sid):
        raise not_found("SmsCommand", sid)
    return json_response(sms_command_json(command, api_root(request)))


def add_routes(app: web.Application) -> None:
    """Register the SettingsUpdate, UsageRecord and SmsCommand routes."""
    app.router.add_get("/v1/SettingsUpdates", list_settings_updates)
    app.router.add_get("/v1/UsageRecords", list_usage_records)
    app.router.add_post("/v1/SmsCommands", create_sms_command)
    app.router.add_get("/v1/SmsCommands", list_sms_commands)
    app.router.add_get("/v1/SmsCommands/{sid}", fetch_sms_command)
