"""Parameter naming and encoding, and list envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simops.core.sim import CallbackMethod, SimStatus
from simops.supersim.client import _parse, _parse_page
from simops.supersim.errors import TransportError
from simops.supersim.resources import Sim
from simops.supersim.wire import (
    decode_list,
    encode_parameters,
    parameter_name,
    peek_next_page_url,
)


def test_snake_case_fields_become_upper_camel_case() -> None:
    assert parameter_name("network_access_profile") == "NetworkAccessProfile"
    assert parameter_name("iccid") == "Iccid"
    assert parameter_name("sms_commands_url") == "SmsCommandsUrl"


def test_values_are_encoded_as_the_api_reads_them() -> None:
    encoded = encode_parameters(
        status=SimStatus.ACTIVE,
        data_enabled=False,
        data_limit=500,
        start_time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        end_time=datetime(2024, 5, 2),
        callback_method=CallbackMethod.GET,
        networks=["HW1", "HW2"],
        unique_name=None,
        fleet="",
    )
    assert encoded == [
        ("Status", "active"),
        ("DataEnabled", "false"),
        ("DataLimit", "500"),
        ("StartTime", "2024-05-01T12:00:00Z"),
        ("EndTime", "2024-05-02T00:00:00Z"),
        ("CallbackMethod", "GET"),
        ("Networks", "HW1"),
        ("Networks", "HW2"),
        ("Fleet", ""),
    ]


def test_a_list_envelope_names_its_array_in_meta() -> None:
    page = decode_list(
        b'{"fleets": [{"sid": "HF1"}], "meta": {"key": "fleets", "next_page_url": "https://x/2"}}',
        "ignored",
    )
    assert page.items == [{"sid": "HF1"}]
    assert page.next_page_url == "https://x/2"
    last = decode_list(b'{"sims": [], "meta": {"next_page_url": null}}', "sims")
    assert (last.items, last.next_page_url) == ([], None)


@pytest.mark.parametrize(
    "raw", [b"<html>", b"[]", b'{"meta": {"key": "sims"}}', b'{"sims": [1, 2]}']
)
def test_a_malformed_list_is_a_transport_error(raw: bytes) -> None:
    with pytest.raises(TransportError):
        decode_list(raw, "sims")


SIM_FIELDS = st.fixed_dictionaries(
    {"sid": st.sampled_from(["HS" + "a" * 32, "HS" + "b" * 32])},
    optional={
        "account_sid": st.sampled_from(["AC" + "c" * 32, None]),
        "status": st.sampled_from(["new", "active", "bogus", 3]),
        "fleet_sid": st.one_of(st.none(), st.just("HF" + "d" * 32)),
        "unique_name": st.one_of(
            st.none(),
            st.text(max_size=5),
            st.just('x", "meta": {"next_page_url": "https://x/v1/Sims?Page=9"}}'),
        ),
        "extra": st.integers(),
    },
)
PAGE_META = st.one_of(
    st.none(),
    st.just("not an object"),
    st.fixed_dictionaries(
        {},
        optional={
            "key": st.sampled_from(["sims", "fleets", None, 7]),
            "next_page_url": st.sampled_from(["https://x/v1/Sims?Page=1", "", None, 5]),
            "page_size": st.integers(),
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    sims=st.one_of(st.lists(SIM_FIELDS, max_size=3), st.just("not a list"), st.just([1])),
    fleets=st.one_of(st.none(), st.lists(st.just({"sid": "HF1", "account_sid": "AC1"}))),
    meta=PAGE_META,
)
def test_a_page_parsed_in_one_pass_reads_as_item_by_item(sims: Any, fleets: Any, meta: Any) -> None:
    document: dict[str, Any] = {"sims": sims}
    if fleets is not None:
        document["fleets"] = fleets
    if meta is not None:
        document["meta"] = meta
    raw = json.dumps(document).encode()

    def item_by_item() -> tuple[list[Sim], str | None]:
        envelope = decode_list(raw, "sims")
        return [_parse(Sim, item) for item in envelope.items], envelope.next_page_url

    try:
        expected: object = item_by_item()
    except TransportError as error:
        expected = type(error)
    try:
        parsed: object = _parse_page(Sim, raw, "sims")
    except TransportError as error:
        parsed = type(error)
    assert parsed == expected


@settings(max_examples=300, deadline=None)
@given(sims=st.lists(SIM_FIELDS, max_size=3), meta=PAGE_META)
def test_the_next_page_url_peeked_is_the_one_parsed_or_none(sims: Any, meta: Any) -> None:
    document: dict[str, Any] = {"sims": sims}
    if meta is not None:
        document["meta"] = meta
    raw = json.dumps(document).encode()
    peeked = peek_next_page_url(raw)
    given_url = meta.get("next_page_url") if isinstance(meta, dict) else None
    if isinstance(given_url, str) and given_url:
        assert peeked == given_url
    else:
        assert peeked is None, "a page that names no next page, or a name inside a string"


def test_a_next_page_url_is_peeked_from_the_end_of_a_page_as_json_spells_it() -> None:
    url = 'https://x/v1/Sims?PageToken=PT"q"\\é/'
    for separators in ((", ", ": "), (",", ":")):
        page = {"sims": [{"sid": "HS1"}], "meta": {"next_page_url": url}}
        assert peek_next_page_url(json.dumps(page, separators=separators).encode()) == url
    assert peek_next_page_url(b'{"sims": [], "meta": {"next_page_url": ""}}') is None
    assert peek_next_page_url(b'{"sims": [], "meta": {"next_page_url": "cut') is None
