"""Fuzzed update bodies against a live emulator: never a 5xx, never a corrupted store."""

from __future__ import annotations

from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simops.core.sim import ENABLED_STATUSES, SimStatus
from simops.emulator.server import RunningEmulator
from simops.emulator.state import Store
from tests.helpers.emulator_api import EmulatorApi

SIM_INDEXES = st.integers(min_value=0, max_value=19)
TEXT = st.text(max_size=12)
STATUS = st.sampled_from(["ready", "active", "inactive", "new", "scheduled", "ACTIVE"]) | TEXT
FLEET = st.sampled_from(["default", "iot-eu", "", "HF" + "0" * 32, "child-fleet"]) | TEXT
ACCOUNT = st.sampled_from(["parent", "child", "AC" + "f" * 32, "ACnope"]) | TEXT
NAME = st.sampled_from(["a", "b", "", "HS" + "1" * 32]) | TEXT
METHOD = st.sampled_from(["GET", "POST", "get", "PUT"])
URL = st.sampled_from(["http://127.0.0.1:9/cb", "ftp://x", "nope"])
UPDATE = st.fixed_dictionaries(
    {},
    optional={
        "Status": STATUS,
        "Fleet": FLEET,
        "AccountSid": ACCOUNT,
        "UniqueName": NAME,
        "CallbackMethod": METHOD,
        "CallbackUrl": URL,
        "Colour": TEXT,
    },
)
STEPS = st.lists(st.tuples(st.booleans(), SIM_INDEXES, UPDATE), min_size=1, max_size=6)

ever_enabled: set[str] = set()


def check_invariants(store: Store) -> None:
    """What no request may ever break, whatever it carries."""
    for sim in store.sims.values():
        assert isinstance(sim.status, SimStatus)
        if sim.status != SimStatus.NEW:
            ever_enabled.add(sim.sid)
        assert sim.sid not in ever_enabled or sim.status != SimStatus.NEW
        assert (sim.pending is not None) == (sim.status == SimStatus.SCHEDULED)
        account = store.accounts[sim.account_sid]
        assert account.sims[sim.slot] is sim
        if sim.status in ENABLED_STATUSES:
            assert sim.fleet_sid is not None
        if sim.fleet_sid is not None:
            assert sim.fleet_sid in account.fleets
        if sim.unique_name:
            assert account.sim_names[sim.unique_name] is sim
    for account in store.accounts.values():
        for name, sim in account.sim_names.items():
            assert sim.unique_name == name and sim.account_sid == account.sid


def _resolve(update: dict[str, str], emulator: RunningEmulator) -> dict[str, str]:
    resolved = dict(update)
    accounts = {"parent": emulator.parent.account_sid, "child": emulator.accounts[1].account_sid}
    if "AccountSid" in resolved:
        resolved["AccountSid"] = accounts.get(resolved["AccountSid"], resolved["AccountSid"])
    if resolved.get("Fleet") == "child-fleet":
        resolved["Fleet"] = emulator.accounts[1].fleets[0]
    return resolved


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
async def test_fuzzed_updates_never_break_the_store(
    steps: list[tuple[bool, int, dict[str, str]]],
    emulator: RunningEmulator,
    http: aiohttp.ClientSession,
) -> None:
    apis = {
        True: EmulatorApi(http, emulator, emulator.parent),
        False: EmulatorApi(http, emulator, emulator.accounts[1]),
    }
    sids = sorted(emulator.context.store.sims)
    for as_parent, index, update in steps:
        answer = await apis[as_parent].post(f"/Sims/{sids[index]}", **_resolve(update, emulator))
        body: Any = answer.body
        assert answer.status < 500, body
        if answer.status >= 400:
            assert set(body) == {"code", "message", "more_info", "status"}
            assert body["status"] == answer.status
        else:
            assert body["status"] in {status.value for status in SimStatus}
        check_invariants(emulator.context.store)
