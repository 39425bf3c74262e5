"""Resources as the API renders them: plain dicts (no pydantic on the hot path), snake_case."""

from __future__ import annotations

from json.encoder import encode_basestring_ascii
from typing import Any

from simops.emulator.clock import iso
from simops.emulator.state import (
    BillingPeriodRecord,
    FleetRecord,
    NetworkAccessProfileRecord,
    NetworkRecord,
    SettingsUpdateRecord,
    SimRecord,
    SmsCommandRecord,
)


def _json_string(value: str | None) -> str:
    # What `json.dumps` writes for a string or None (ASCII-only, the C escaper it uses itself).
    return "null" if value is None else encode_basestring_ascii(value)


def sim_json_bytes(sim: SimRecord, api: str) -> bytes:
    """A Sim resource as `json.dumps` writes it compactly; `api` is the absolute `/v1` URL
    the request came to.

    Fetching, updating and listing Sims answer this on every request of a campaign; building
    the text directly costs a fraction of a dict plus the generic encoder.
    """
    url = encode_basestring_ascii(f"{api}/Sims/{sim.sid}")
    url_open = url[:-1]
    return (
        f'{{"sid":{_json_string(sim.sid)},"unique_name":{_json_string(sim.unique_name)},'
        f'"account_sid":{_json_string(sim.account_sid)},"iccid":{_json_string(sim.iccid)},'
        f'"status":{_json_string(sim.status.value)},"fleet_sid":{_json_string(sim.fleet_sid)},'
        f'"date_created":"{iso(sim.date_created)}","date_updated":"{iso(sim.date_updated)}",'
        f'"url":{url},"links":{{"billing_periods":{url_open}/BillingPeriods",'
        f'"sim_ip_addresses":{url_open}/IpAddresses"}}}}'
    ).encode()


def fleet_json(fleet: FleetRecord, api: str) -> dict[str, Any]:
    """A Fleet resource."""
    return {
        "account_sid": fleet.account_sid,
        "sid": fleet.sid,
        "unique_name": fleet.unique_name,
        "date_created": iso(fleet.date_created),
        "date_updated": iso(fleet.date_updated),
        "url": f"{api}/Fleets/{fleet.sid}",
        "data_enabled": fleet.data_enabled,
        "data_limit": fleet.data_limit,
        "data_metering": fleet.data_metering,
        "sms_commands_enabled": fleet.sms_commands_enabled,
        "sms_commands_url": fleet.sms_commands_url,
        "sms_commands_method": fleet.sms_commands_method,
        "network_access_profile_sid": fleet.network_access_profile_sid,
        "ip_commands_url": fleet.ip_commands_url,
        "ip_commands_method": fleet.ip_commands_method,
    }


def profile_json(profile: NetworkAccessProfileRecord, api: str) -> dict[str, Any]:
    """A NetworkAccessProfile resource."""
    url = f"{api}/NetworkAccessProfiles/{profile.sid}"
    return {
        "sid": profile.sid,
        "unique_name": profile.unique_name,
        "account_sid": profile.account_sid,
        "date_created": iso(profile.date_created),
        "date_updated": iso(profile.date_updated),
        "url": url,
        "links": {"networks": f"{url}/Networks"},
    }


def network_json(network: NetworkRecord, api: str) -> dict[str, Any]:
    """A Network resource."""
    return {
        "sid": network.sid,
        "friendly_name": network.friendly_name,
        "url": f"{api}/Networks/{network.sid}",
        "iso_country": network.iso_country,
        "identifiers": network.identifiers,
    }


def profile_network_json(
    profile: NetworkAccessProfileRecord, network: NetworkRecord, api: str
) -> dict[str, Any]:
    """A Network as a member of a NetworkAccessProfile."""
    return {
        "sid": network.sid,
        "network_access_profile_sid": profile.sid,
        "friendly_name": network.friendly_name,
        "iso_country": network.iso_country,
        "identifiers": network.identifiers,
        "url": f"{api}/NetworkAccessProfiles/{profile.sid}/Networks/{network.sid}",
    }


def billing_period_json(period: BillingPeriodRecord) -> dict[str, Any]:
    """A Sim BillingPeriod resource."""
    return {
        "sid": period.sid,
        "account_sid": period.account_sid,
        "sim_sid": period.sim_sid,
        "start_time": iso(period.start),
        "end_time": iso(period.end),
        "period_type": period.period_type.value,
        "date_created": iso(period.date_created),
        "date_updated": iso(period.date_updated),
    }


def settings_update_json(update: SettingsUpdateRecord) -> dict[str, Any]:
    """A SettingsUpdate resource."""
    return {
        "sid": update.sid,
        "iccid": update.iccid,
        "sim_sid": update.sim_sid,
        "status": update.status,
        "packages": update.packages,
        "date_completed": iso(update.date_completed) if update.date_completed else None,
        "date_created": iso(update.date_created),
        "date_updated": iso(update.date_updated),
    }


def sms_command_json(command: SmsCommandRecord, api: str) -> dict[str, Any]:
    """An SmsCommand resource."""
    return {
        "sid": command.sid,
        "account_sid": command.account_sid,
        "sim_sid": command.sim_sid,
        "payload": command.payload,
        "status": command.status,
        "direction": command.direction,
        "date_created": iso(command.date_created),
        "date_updated": iso(command.date_updated),
        "url": f"{api}/SmsCommands/{command.sid}",
    }
