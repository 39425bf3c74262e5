"""The leak scanner on crafted texts, log files and histories: what it finds and how it reports."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from simops.emulator.ids import iccid_for
from simops.runtime.settings import SimopsSettings
from simops.scan import (
    FindingKind,
    configured_secrets,
    fingerprint,
    history_event_texts,
    scan_for_secrets,
    scan_log_file,
)

ICCID = iccid_for(42)
SECRET = "s3cr3t-auth-token-0123456789abcdef"


def test_a_secret_and_a_full_iccid_are_found_with_their_position() -> None:
    texts = ["nothing here", f"token={SECRET} sim {ICCID}.", "clean again"]

    findings = scan_for_secrets(texts, {SECRET}, source="app.log")

    assert [(f.position, f.kind) for f in findings] == [
        (2, FindingKind.SECRET),
        (2, FindingKind.ICCID),
    ]
    assert all(f.source == "app.log" for f in findings)


def test_a_finding_never_repeats_what_it_found() -> None:
    findings = scan_for_secrets([f"{SECRET} {ICCID}"], [SECRET])

    report = " ".join(str(finding) for finding in findings)
    assert SECRET not in report and ICCID not in report
    assert fingerprint(SECRET) in report and ICCID[:6] in report and ICCID[-4:] in report


@pytest.mark.parametrize(
    "text",
    [
        ICCID[:-1] + str((int(ICCID[-1]) + 1) % 10),  # wrong check digit
        ICCID[:6] + "…" + ICCID[-4:],  # masked
        "1" + ICCID,  # 21 digits: not an ICCID
        ICCID[:18],  # 18 digits
    ],
    ids=["bad-luhn", "masked", "21-digits", "18-digits"],
)
def test_what_is_not_a_full_iccid_is_not_reported(text: str) -> None:
    assert scan_for_secrets([f"sim {text} ok"], []) == []


def test_a_19_digit_iccid_is_found() -> None:
    body = ICCID[:18]
    valid = next(body + digit for digit in "0123456789" if scan_for_secrets([body + digit], []))

    assert len(valid) == 19


def test_a_secret_inside_a_longer_one_is_reported_once_as_the_longer() -> None:
    findings = scan_for_secrets([f"x{SECRET}-extended y"], [SECRET, SECRET + "-extended"])

    assert [f.masked for f in findings] == [fingerprint(SECRET + "-extended")]


def test_short_secrets_are_refused_rather_than_matched_by_chance() -> None:
    with pytest.raises(ValueError, match="shorter than 8"):
        scan_for_secrets(["anything"], ["abc"])


def test_a_log_file_with_bad_utf8_is_scanned_line_by_line(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_bytes(b"start\n\xff\xfe garbage " + SECRET.encode() + b"\nend " + ICCID.encode())

    findings = scan_log_file(log, [SECRET])

    assert [(f.position, f.kind) for f in findings] == [
        (2, FindingKind.SECRET),
        (3, FindingKind.ICCID),
    ]
    assert findings[0].source == str(log)


def test_history_payloads_are_decoded_before_they_are_scanned() -> None:
    payload_data = base64.b64encode(json.dumps({"iccid": ICCID}).encode()).decode()
    metadata = base64.b64encode(SECRET.encode()).decode()
    history = {
        "events": [
            {"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"},
            {"input": {"payloads": [{"metadata": {"note": metadata}, "data": payload_data}]}},
        ]
    }
    texts = list(history_event_texts(json.dumps(history)))

    assert ICCID not in json.dumps(history) and SECRET not in json.dumps(history)
    findings = scan_for_secrets(texts, [SECRET])
    assert [(f.position, f.kind) for f in findings] == [
        (2, FindingKind.SECRET),
        (2, FindingKind.ICCID),
    ]


def test_configured_secrets_gathers_every_credential_of_the_settings() -> None:
    values = [f"secret-value-{n:02d}-0123456789" for n in range(7)]
    settings = SimopsSettings(
        _env_file=None,
        kore_client_id="client",
        kore_client_secret=SecretStr(values[0]),
        bearer_token=SecretStr(values[1]),
        twilio_auth_token=SecretStr(values[2]),
        callback_secret=SecretStr(values[3]),
        kore_webhook_secret=SecretStr(values[4]),
        kore_webhook_secrets={"AC1": SecretStr(values[5])},
        twilio_auth_tokens={"AC1": SecretStr(values[6])},
        payload_key=base64.b64encode(b"k" * 32).decode(),
        payload_old_keys=[base64.b64encode(b"o" * 32).decode()],
    )

    found = configured_secrets(settings)

    assert set(values) <= set(found)
    assert base64.b64encode(b"k" * 32).decode() in found
    assert base64.b64encode(b"o" * 32).decode() in found
    assert "client" not in found
