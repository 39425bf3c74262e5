"""The emulator's hot-path shortcuts give byte for byte what the generic code gives."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from simops.core.sim import SimStatus
from simops.emulator.callbacks import form_encode
from simops.emulator.render import sim_json, sim_json_bytes
from simops.emulator.state import SimRecord

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
