"""The control API under `/_emulator/` (JSON, not part of Super SIM): credentials, inventory,
stats, faults, the clock, simulated data usage and Sims arriving. It is never rate limited nor
faulted."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from simops.core.codes import RuleCode
from simops.core.sim import ENABLED_STATUSES
from simops.core.wording import with_article
from simops.emulator.clock import iso
from simops.emulator.context import context_of
from simops.emulator.errors import ApiError, not_found
from simops.emulator.responses import json_response
from simops.emulator.seed import add_new_sims
from simops.emulator.state import UsageEntry

CONTROL_PREFIX = "/_emulator/"
"""Where every control route lives; their requests are counted in the stats but not logged."""
MAX_CLOCK_ADVANCE_SECONDS = 100 * 365 * 86400
MAX_USAGE_BYTES = 10**15


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, RuleCode.INVALID_PARAMETER, "The body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, RuleCode.INVALID_PARAMETER, "The body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ApiError(
            400, RuleCode.INVALID_PARAMETER, f"{name} must be a number between {low:g} and {high:g}"
        )
    return float(value)


def _unix_time(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    # Refused rather than compared: `nan` would silently match nothing, and no entry is at an
    # infinite time.
    if not math.isfinite(seconds):
        raise ApiError(400, RuleCode.INVALID_PARAMETER, f"{name} must be a Unix time in seconds")
    return seconds


async def list_accounts(request: web.Request) -> web.Response:
    """`GET /_emulator/accounts`: every account's credentials, the parent first."""
    store = context_of(request).store
    return json_response([account.credentials() for account in store.accounts.values()])


async def list_inventory(request: web.Request) -> web.Response:
    """`GET /_emulator/inventory?limit=N`: unregistered ICCIDs and their registration codes."""
    store = context_of(request).store
    try:
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        raise ApiError(400, RuleCode.INVALID_PARAMETER, "limit must be an integer") from None
    pairs: list[dict[str, str]] = []
    for iccid, code in store.inventory.items():
        if len(pairs) >= limit:
            break
        pairs.append({"iccid": iccid, "registration_code": code})
    return json_response({"total": len(store.inventory), "inventory": pairs})


async def get_stats(request: web.Request) -> web.Response:
    """`GET /_emulator/stats[?per_sim=false]`: requests, writes, callbacks, queue depths."""
    context = context_of(request)
    per_sim = request.query.get("per_sim", "true").lower() != "false"
    snapshot = context.stats.snapshot(per_sim=per_sim)
    snapshot["sims"] = len(context.store.sims)
    snapshot["scheduled"] = context.lifecycle.pending_total
    snapshot["timers"] = len(context.timers)
    snapshot["callback_backlog"] = context.dispatcher.backlog
    return json_response(snapshot)


async def get_writes(request: web.Request) -> web.Response:
    """`GET /_emulator/writes`: every state-changing write (the newest 200,000), oldest first,
    with its Unix time and what it asked: the record a test checks simops against."""
    return web.json_response({"writes": context_of(request).stats.writes()})


async def get_requests(request: web.Request) -> web.Response:
    """`GET /_emulator/requests[?since=<unix time>]`: every answered API request (the newest
    200,000; the control API's are not logged), oldest first, with its Unix time, account,
    route, Sim and status: the record a test checks what simops sent against."""
    since = _unix_time(request, "since")
    return json_response({"requests": context_of(request).stats.logged_requests(since)})


async def reset_stats(request: web.Request) -> web.Response:
    """`POST /_emulator/stats/reset`: zero the counters, empty the request and write logs."""
    context_of(request).stats.reset()
    return json_response({"reset": True})


async def get_faults(request: web.Request) -> web.Response:
    """`GET /_emulator/faults`: the active fault set."""
    return json_response(context_of(request).faults.as_dict())


async def set_faults(request: web.Request) -> web.Response:
    """`POST /_emulator/faults`: change any subset of the faults; replies with the active set."""
    faults = context_of(request).faults
    try:
        faults.update(await _json_body(request))
    except ValueError as error:
        raise ApiError(400, RuleCode.INVALID_PARAMETER, str(error)) from None
    return json_response(faults.as_dict())


async def clear_faults(request: web.Request) -> web.Response:
    """`DELETE /_emulator/faults`: turn every fault off."""
    faults = context_of(request).faults
    faults.reset()
    return json_response(faults.as_dict())


def _clock_json(offset: float, now: float) -> dict[str, Any]:
    return {"now": iso(now), "offset_seconds": offset}


async def get_clock(request: web.Request) -> web.Response:
    """`GET /_emulator/clock`: the emulator's time and its offset from real time."""
    clock = context_of(request).clock
    return json_response(_clock_json(clock.offset, clock.now()))


async def advance_clock(request: web.Request) -> web.Response:
    """`POST /_emulator/clock {"advance_seconds": n}`: move the clock forward, run what is due."""
    context = context_of(request)
    seconds = _number(await _json_body(request), "advance_seconds", 0, MAX_CLOCK_ADVANCE_SECONDS)
    context.clock.advance(seconds)
    await context.timers.run_due()
    return json_response(_clock_json(context.clock.offset, context.clock.now()))


async def record_usage(request: web.Request) -> web.Response:
    """`POST /_emulator/usage {"sim": sid, "bytes": n}`: data used by a connected Sim."""
    context = context_of(request)
    body = await _json_body(request)
    sim_ref = body.get("sim")
    if not isinstance(sim_ref, str):
        raise ApiError(400, RuleCode.INVALID_PARAMETER, "sim must be a Sim SID")
    byte_count = int(_number(body, "bytes", 1, MAX_USAGE_BYTES))
    store = context.store
    sim = store.sims.get(sim_ref)
    if sim is None:
        raise not_found("Sim", sim_ref)
    if sim.effective_status() not in ENABLED_STATUSES:
        raise ApiError(
            409,
            RuleCode.TRANSITION_NOT_ALLOWED,
            f"{with_article(sim.effective_status()).capitalize()} Sim cannot use data",
        )
    upload = byte_count // 2
    network = next(iter(store.networks.values()), None)
    store.usage.append(
        UsageEntry(
            account_sid=sim.account_sid,
            sim_sid=sim.sid,
            fleet_sid=sim.fleet_sid,
            network_sid=network.sid if network else None,
            iso_country=network.iso_country if network else None,
            timestamp=context.clock.now(),
            upload=upload,
            download=byte_count - upload,
        )
    )
    context.lifecycle.record_usage(sim, byte_count)
    return json_response({"sim": sim.sid, "status": sim.status.value, "data_bytes": sim.data_bytes})


MAX_ADDED_SIMS = 10_000
"""Sims one `POST /_emulator/sims` adds at most."""


async def add_sims(request: web.Request) -> web.Response:
    """`POST /_emulator/sims {"count": n, "account": "AC…"}`: `n` new Sims on the account
    (the parent when not given), as if a shipment had just been registered; answers them."""
    context = context_of(request)
    body = await _json_body(request)
    count = int(_number(body, "count", 1, MAX_ADDED_SIMS))
    account_sid = body.get("account")
    store = context.store
    if account_sid is None:
        account = store.parent
    elif isinstance(account_sid, str) and account_sid in store.accounts:
        account = store.accounts[account_sid]
    else:
        raise ApiError(400, RuleCode.INVALID_PARAMETER, "account must be an Account SID")
    added = add_new_sims(store, context.ids, account, count, context.clock.now())
    return json_response(
        {
            "sims": [
                {
                    "sid": sim.sid,
                    "iccid": sim.iccid,
                    "account_sid": sim.account_sid,
                    "status": sim.status.value,
                }
                for sim in added
            ]
        },
        status=201,
    )


def add_routes(app: web.Application) -> None:
    """Register the control routes."""
    app.router.add_get("/_emulator/accounts", list_accounts)
    app.router.add_get("/_emulator/inventory", list_inventory)
    app.router.add_get("/_emulator/stats", get_stats)
    app.router.add_get("/_emulator/writes", get_writes)
    app.router.add_get("/_emulator/requests", get_requests)
    app.router.add_post("/_emulator/stats/reset", reset_stats)
    app.router.add_get("/_emulator/faults", get_faults)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_delete("/_emulator/faults", clear_faults)
    app.router.add_get("/_emulator/clock", get_clock)
    app.router.add_post("/_emulator/clock", advance_clock)
    app.router.add_post("/_emulator/usage", record_usage)
    app.router.add_post("/_emulator/sims", add_sims)
