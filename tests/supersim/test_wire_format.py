"""Parameter naming and encoding, and list envelopes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simops.models import CallbackMethod, SimStatus
from simops.supersim.errors import TransportError
from simops.supersim.wire import decode_list, encode_parameters, parameter_name


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
