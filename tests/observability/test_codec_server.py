"""`simops codec-server` as the Temporal Web UI calls it: over HTTP, from the UI's origin."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.api.common.v1 import Payload

from simops.observability.codec_server import CodecServer
from simops.runtime.codec import EncryptionCodec, new_payload_key
from simops.runtime.ports import free_port
from tests.helpers.processes import clean_environment

UI_ORIGIN = "http://localhost:8233"
TOKEN = "codec-token-for-tests"


def _json_payload(payload: Payload) -> dict[str, Any]:
    """A payload as Temporal's protobuf JSON writes it (bytes in base64)."""
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


@pytest.fixture
async def codec() -> EncryptionCodec:
    return EncryptionCodec.from_keys(new_payload_key())


@pytest.fixture
async def server_url(codec: EncryptionCodec) -> AsyncIterator[str]:
    """The codec server on a free port, with a token and the UI's origin allowed."""
    runner = web.AppRunner(CodecServer(codec, origins=[UI_ORIGIN], token=TOKEN).app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _post(url: str, body: Any, **headers: str) -> tuple[int, Any, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def test_decode_opens_what_the_workers_encrypted(
    codec: EncryptionCodec, server_url: str
) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"sim_sid": "HS01"}')
    (encrypted,) = await codec.encode([plain])

    status, body, headers = await _post(
        f"{server_url}/decode",
        {"payloads": [_json_payload(encrypted)]},
        Authorization=f"Bearer {TOKEN}",
        Origin=UI_ORIGIN,
        **{"X-Namespace": "default"},
    )

    assert status == 200
    assert body == {"payloads": [_json_payload(plain)]}
    assert headers["Access-Control-Allow-Origin"] == UI_ORIGIN


async def test_encode_then_decode_round_trips(server_url: str) -> None:
    plain = _json_payload(Payload(metadata={"encoding": b"json/plain"}, data=b"42"))
    auth = {"Authorization": f"Bearer {TOKEN}"}

    _, encoded, _ = await _post(f"{server_url}/encode", {"payloads": [plain]}, **auth)
    _, decoded, _ = await _post(f"{server_url}/decode", encoded, **auth)

    assert base64.b64decode(encoded["payloads"][0]["metadata"]["encoding"]) == b"binary/encrypted"
    assert decoded == {"payloads": [plain]}


async def test_cors_preflight_allows_the_ui_origin_only(server_url: str) -> None:
    request = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(
            f"{server_url}/decode", headers={**request, "Origin": UI_ORIGIN}
        ) as allowed:
            allowed_headers = dict(allowed.headers)
            allowed_status = allowed.status
        async with session.options(
            f"{server_url}/decode", headers={**request, "Origin": "http://evil.example"}
        ) as refused:
            refused_headers = dict(refused.headers)
            refused_status = refused.status

    assert allowed_status == 204
    assert allowed_headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "POST" in allowed_headers["Access-Control-Allow-Methods"]
    sent = {h.strip().lower() for h in allowed_headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= sent
    assert refused_status == 403
    assert "Access-Control-Allow-Origin" not in refused_headers


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", TOKEN])
async def test_a_request_without_the_token_is_refused(
    codec: EncryptionCodec, server_url: str, authorization: str | None
) -> None:
    (encrypted,) = await codec.encode([Payload(data=b"secret contents")])
    headers = {"Origin": UI_ORIGIN}
    if authorization is not None:
        headers["Authorization"] = authorization

    status, body, response_headers = await _post(
        f"{server_url}/decode", {"payloads": [_json_payload(encrypted)]}, **headers
    )

    assert status == 401
    assert "secret contents" not in str(body)
    # The UI can read the refusal (and say why) only with the CORS headers on it.
    assert response_headers["Access-Control-Allow-Origin"] == UI_ORIGIN


async def test_a_payload_under_an_unknown_key_is_a_400_naming_the_key_id(server_url: str) -> None:
    other = EncryptionCodec.from_keys(new_payload_key())
    (encrypted,) = await other.encode([Payload(data=b"x")])

    status, body, _ = await _post(
        f"{server_url}/decode",
        {"payloads": [_json_payload(encrypted)]},
        Authorization=f"Bearer {TOKEN}",
    )

    assert status == 400
    assert other.key_id in body["message"]


@pytest.mark.parametrize(
    ("environment", "arguments", "problem"),
    [
        ({}, [], "SIMOPS_PAYLOAD_KEY"),
        ({"SIMOPS_PAYLOAD_KEY": new_payload_key()}, [], "SIMOPS_CODEC_TOKEN"),
        (
            {"SIMOPS_PAYLOAD_KEY": new_payload_key()},
            ["--no-auth", "--host", "0.0.0.0"],
            "loopback",
        ),
    ],
)
def test_the_command_refuses_to_serve_without_a_key_or_auth(
    tmp_path: Any, environment: dict[str, str], arguments: list[str], problem: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simops", "codec-server", "--port", str(free_port()), *arguments],
        cwd=tmp_path,
        env={**clean_environment(), **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert problem in result.stderr and "Traceback" not in result.stderr
