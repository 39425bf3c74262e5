"""Callback signatures against the reference page's vectors, and forgeries rejected."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import pytest

from simops.supersim.signatures import (
    kore_signature,
    twilio_signature,
    verify_kore_signature,
    verify_twilio_signature,
)

KORE_SECRET = "12345"
KORE_URL = "https://testendpoint.com"
KORE_BODY = b"field1=value1&field2=value2"
KORE_EXPECTED = "f562d3959f68b5a30fc7a63f8bbf40987f633575f4231ffceb4f76dd154ea3ce"

TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
TWILIO_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_kore_reference_vector() -> None:
    assert kore_signature(KORE_SECRET, "POST", KORE_URL, KORE_BODY) == KORE_EXPECTED
    assert verify_kore_signature(KORE_SECRET, "POST", KORE_URL, KORE_BODY, KORE_EXPECTED)


def test_kore_signature_ignores_query_and_fragment() -> None:
    assert verify_kore_signature(
        KORE_SECRET, "post", f"{KORE_URL}?attempt=2#top", KORE_BODY, KORE_EXPECTED.upper()
    )


def test_twilio_reference_vector() -> None:
    assert twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS) == TWILIO_EXPECTED
    shuffled = list(reversed(TWILIO_PARAMS))
    assert verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, shuffled, TWILIO_EXPECTED)


@pytest.mark.parametrize(
    ("secret", "method", "url", "body"),
    [
        ("12346", "POST", KORE_URL, KORE_BODY),
        (KORE_SECRET, "GET", KORE_URL, KORE_BODY),
        (KORE_SECRET, "POST", "https://testendpoint.com/other", KORE_BODY),
        (KORE_SECRET, "POST", KORE_URL, b"field1=value1&field2=value3"),
    ],
    ids=["secret", "method", "url", "body"],
)
def test_tampered_kore_callback_is_rejected(
    secret: str, method: str, url: str, body: bytes
) -> None:
    assert not verify_kore_signature(secret, method, url, body, KORE_EXPECTED)


@pytest.mark.parametrize(
    ("token", "url", "params"),
    [
        ("12346", TWILIO_URL, TWILIO_PARAMS),
        (TWILIO_TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3", TWILIO_PARAMS),
        (TWILIO_TOKEN, TWILIO_URL, [*TWILIO_PARAMS[:-1], ("To", "+18005551213")]),
        (TWILIO_TOKEN, TWILIO_URL, [*TWILIO_PARAMS, ("Extra", "1")]),
    ],
    ids=["secret", "url", "param-value", "extra-param"],
)
def test_tampered_twilio_callback_is_rejected(
    token: str, url: str, params: list[tuple[str, str]]
) -> None:
    assert not verify_twilio_signature(token, url, params, TWILIO_EXPECTED)


@pytest.mark.parametrize("signature", [None, "", "not-a-signature"])
def test_missing_or_malformed_signature_is_rejected(signature: str | None) -> None:
    assert not verify_kore_signature(KORE_SECRET, "POST", KORE_URL, KORE_BODY, signature)
    assert not verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, signature)


def test_verification_uses_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[Any, Any]] = []
    real_compare: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(left: Any, right: Any) -> bool:
        compared.append((left, right))
        return real_compare(left, right)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_kore_signature(KORE_SECRET, "POST", KORE_URL, KORE_BODY, KORE_EXPECTED)
    assert verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, TWILIO_EXPECTED)
    assert len(compared) == 2
