"""The emulator's hot-path shortcuts give byte for byte what the generic code gives."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st

from simops.core.sim import SimStatus
from simops.emulator.callbacks import form_encode
from simops.emulator.clock import iso
from simops.emulator.forms import query_params
from simops.emulator.pagination import SegmentedSource
from simops.emulator.render import sim_json_bytes
from simops.emulator.responses import encoded_list_response, list_response
from simops.emulator.state import SimRecord


def sim_json(sim: SimRecord, api: str) -> dict[str, Any]:
    """A Sim resource as the API documents it, built the plain way."""
    url = f"{api}/Sims/{sim.sid}"
    return {
        "sid": sim.sid,
        "unique_name": sim.unique_name,
        "account_sid": sim.account_sid,
        "iccid": sim.iccid,
        "status": sim.status.value,
        "fleet_sid": sim.fleet_sid,
        "date_created": iso(sim.date_created),
        "date_updated": iso(sim.date_updated),
        "url": url,
        "links": {
            "billing_periods": f"{url}/BillingPeriods",
            "sim_ip_addresses": f"{url}/IpAddresses",
        },
    }


optional_text = st.none() | st.text(max_size=40)
timestamps = st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False)


@given(
    sid=st.text(min_size=1, max_size=40),
    account_sid=st.text(min_size=1, max_size=40),
    iccid=st.text(max_size=22),
    status=st.sampled_from(list(SimStatus)),
    unique_name=optional_text,
    fleet_sid=optional_text,
    created=timestamps,
    updated=timestamps,
    api=st.text(max_size=60),
)
def test_sim_json_bytes_is_json_dumps_of_sim_json(
    sid: str,
    account_sid: str,
    iccid: str,
    status: SimStatus,
    unique_name: str | None,
    fleet_sid: str | None,
    created: float,
    updated: float,
    api: str,
) -> None:
    sim = SimRecord(
        sid=sid,
        account_sid=account_sid,
        status=status,
        date_created=created,
        date_updated=updated,
        index=0,
        slot=0,
        iccid_override=iccid,
        unique_name=unique_name,
        fleet_sid=fleet_sid,
    )

    expected = json.dumps(sim_json(sim, api), separators=(",", ":")).encode()

    assert sim_json_bytes(sim, api) == expected


@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=6))
def test_form_encode_is_urlencode(params: list[tuple[str, str]]) -> None:
    assert form_encode(params) == urlencode(params)


def _sim(index: int, status: SimStatus) -> SimRecord:
    sid = f"HS{index:032x}"
    return SimRecord(sid, "AC" + "0" * 32, status, 1.7e9, 1.7e9 + index, index, index)


@given(
    statuses=st.lists(st.sampled_from([SimStatus.NEW, SimStatus.ACTIVE]), max_size=12),
    query=st.sampled_from(
        ["", "PageSize=3", "PageSize=2&Page=1", "Status=new&PageSize=4", "Status=active"]
    ),
)
def test_encoded_list_response_is_list_response(statuses: list[SimStatus], query: str) -> None:
    sims = [_sim(index, status) for index, status in enumerate(statuses)]
    request = make_mocked_request("GET", f"/v1/Sims?{query}", headers={"Host": "emulator"})
    params = query_params(request)
    wanted = params.text("Status")
    source = SegmentedSource([sims], lambda sim: wanted is None or sim.status.value == wanted)
    api = "http://emulator/v1"

    plain = list_response(
        request, params, source, "sims", ("Status",), lambda sim: sim_json(sim, api)
    )
    encoded = encoded_list_response(
        request, params, source, "sims", ("Status",), lambda sim: sim_json_bytes(sim, api)
    )

    assert encoded.body == plain.body
