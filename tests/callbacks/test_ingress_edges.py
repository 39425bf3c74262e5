"""The ingress at its edges: malformed tokens and signatures, and accounts it cannot verify.

The ingress runs as in production (its aiohttp app over real HTTP); Temporal is replaced by a
signaller that records what it is asked to deliver.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from simops.callbacks.ingress import (
    CallbackIngress,
    UnsignedCallbacksError,
    check_provider_secrets,
)
from simops.callbacks.urls import CALLBACK_PATH_PREFIX, callback_token, is_authentic
from simops.runtime.settings import SimopsSettings
from simops.supersim.signatures import (
    KORE_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    kore_signature,
    verify_kore_signature,
    verify_twilio_signature,
)
from tests.callbacks.test_ingress_fuzz import (
    CALLBACK_SECRET,
    PUBLIC_BASE,
    SIGNED_ACCOUNT,
    UNSIGNED_ACCOUNT,
    WEBHOOK_SECRET,
    RecordingSignaller,
    fuzz_settings,
)

WORKFLOW_ID = "sim-HS" + "1" * 32
BODY = urlencode(
    {"SimSid": "HS" + "1" * 32, "SimStatus": "active", "AccountSid": SIGNED_ACCOUNT}
).encode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _path(token: str) -> str:
    return f"{CALLBACK_PATH_PREFIX}/{WORKFLOW_ID}/{token}"


async def _raw_status(ingress: CallbackIngress, request_head: bytes, body: bytes) -> int:
    """The status of one request sent byte for byte (headers a client library would refuse)."""
    async with TestServer(ingress.app()) as server:
        assert server.port is not None
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(connection, request_head + body)
            answer = await loop.sock_recv(connection, 4096)
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "token",
    ["%C3%A9" * 16, "%E2%82%AC" + "0" * 31, "%F0%9F%98%80", "%FF%FE", "%ED%A0%80"],
    ids=["e-acute", "euro", "emoji", "not-utf-8", "lone-surrogate"],
)
async def test_a_non_ascii_url_token_is_forged_not_a_server_error(token: str) -> None:
    signaller = RecordingSignaller()
    ingress = CallbackIngress(fuzz_settings(), signaller)
    async with TestClient(TestServer(ingress.app())) as client:
        response = await client.post(_path(token), data=BODY, headers=FORM)

    assert response.status == 403
    assert signaller.signals == []


@pytest.mark.parametrize("header", [KORE_SIGNATURE_HEADER, TWILIO_SIGNATURE_HEADER])
@pytest.mark.parametrize(
    "value", ["é" * 64, "€", "\udcff".encode("utf-8", "surrogateescape")], ids=str
)
async def test_a_non_ascii_signature_is_forged_not_a_server_error(
    header: str, value: str | bytes
) -> None:
    token = callback_token(CALLBACK_SECRET, WORKFLOW_ID)
    raw_value = value if isinstance(value, bytes) else value.encode()
    head = (
        (
            f"POST {_path(token)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(BODY)}\r\n"
        ).encode()
        + header.encode()
        + b": "
        + raw_value
        + b"\r\n\r\n"
    )
    signaller = RecordingSignaller()

    status = await _raw_status(CallbackIngress(fuzz_settings(), signaller), head, BODY)

    assert status == 403
    assert signaller.signals == []


@pytest.mark.parametrize("given", ["é", "\udcff", "\ud800", "0" * 32 + "€"])
def test_comparisons_take_any_string(given: str) -> None:
    assert not is_authentic(CALLBACK_SECRET, WORKFLOW_ID, given)
    assert not verify_kore_signature(WEBHOOK_SECRET, "POST", PUBLIC_BASE, BODY, given)
    assert not verify_twilio_signature(WEBHOOK_SECRET, PUBLIC_BASE, [], given)


def test_the_genuine_signature_still_verifies() -> None:
    url = PUBLIC_BASE + _path(callback_token(CALLBACK_SECRET, WORKFLOW_ID))
    signature = kore_signature(WEBHOOK_SECRET, "POST", url, BODY)

    assert verify_kore_signature(WEBHOOK_SECRET, "POST", url, BODY, signature.upper())
    assert is_authentic(CALLBACK_SECRET, WORKFLOW_ID, callback_token(CALLBACK_SECRET, WORKFLOW_ID))


def _settings(**fields: object) -> SimopsSettings:
    return SimopsSettings(_env_file=None, callback_secret=SecretStr(CALLBACK_SECRET), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"twilio_account_sid": SIGNED_ACCOUNT},
        {
            "kore_webhook_secrets": {SIGNED_ACCOUNT: SecretStr("s")},
            "twilio_account_sid": UNSIGNED_ACCOUNT,
        },
    ],
    ids=["no-secret-at-all", "parent-without-token", "parent-not-in-the-maps"],
)
def test_the_ingress_refuses_to_start_for_an_account_it_cannot_verify(
    fields: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(**fields)

    with pytest.raises(UnsignedCallbacksError, match="--allow-unsigned"):
        check_provider_secrets(settings, allow_unsigned=False)
    with caplog.at_level(logging.WARNING, logger="simops.callbacks.ingress"):
        check_provider_secrets(settings, allow_unsigned=True)

    assert "UNSIGNED CALLBACKS ARE ACCEPTED" in caplog.text


@pytest.mark.parametrize(
    "fields",
    [
        {"kore_webhook_secret": SecretStr("one secret for every account")},
        {"kore_webhook_secrets": {SIGNED_ACCOUNT: SecretStr("s")}},
        {"twilio_account_sid": SIGNED_ACCOUNT, "twilio_auth_token": SecretStr("t")},
        {"twilio_auth_tokens": {SIGNED_ACCOUNT: SecretStr("t")}},
    ],
    ids=["kore-secret", "kore-secrets", "parent-auth-token", "auth-tokens"],
)
def test_the_ingress_starts_when_every_known_account_has_a_secret(
    fields: dict[str, object],
) -> None:
    check_provider_secrets(_settings(**fields), allow_unsigned=False)


@pytest.mark.parametrize("allow_unsigned", [False, True])
async def test_an_unsigned_callback_is_taken_only_when_allowed(allow_unsigned: bool) -> None:
    signaller = RecordingSignaller()
    ingress = CallbackIngress(_settings(), signaller, allow_unsigned=allow_unsigned)
    token = callback_token(CALLBACK_SECRET, WORKFLOW_ID)
    async with TestClient(TestServer(ingress.app())) as client:
        response = await client.post(_path(token), data=BODY, headers=FORM)

    assert response.status == (200 if allow_unsigned else 403)
    assert len(signaller.signals) == int(allow_unsigned)
