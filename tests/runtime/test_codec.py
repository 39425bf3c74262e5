"""The payload codec: round trips, tampering, wrong and rotated keys, and a real encrypted run."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from simops.cli.support import load_settings
from simops.core.sim import OutcomeKind, SimSnapshot, SimStatus
from simops.devstack.in_process import local_stack
from simops.runtime.codec import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadDecryptionError,
    new_payload_key,
    parse_payload_key,
    payload_key_id,
)
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import data_converter
from simops.supersim.client import SuperSimClient
from tests.helpers.stacks import start_sim_activation

KEY = new_payload_key()
SNAPSHOT = SimSnapshot(sid="HS" + "a" * 32, status=SimStatus.ACTIVE, account_sid="AC" + "b" * 32)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def encrypt(codec: EncryptionCodec, payload: Payload) -> Payload:
    (encrypted,) = await codec.encode([payload])
    return encrypted


async def test_round_trip_restores_metadata_and_data() -> None:
    codec = EncryptionCodec.from_keys(KEY)
    originals = [plain('{"sim_sid": "HS1"}'), Payload(metadata={"encoding": b"binary/null"})]

    encrypted = await codec.encode(originals)

    assert await codec.decode(encrypted) == originals
    for payload in encrypted:
        assert payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert payload.metadata[KEY_ID_METADATA] == codec.key_id.encode()
        assert b"HS1" not in payload.data and b"json/plain" not in payload.data


async def test_the_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec.from_keys(KEY)

    first, second = await codec.encode([plain("same"), plain("same")])

    assert first.data != second.data


async def test_the_data_converter_encrypts_a_model_and_reads_it_back() -> None:
    converter = data_converter(SimopsSettings(_env_file=None, payload_key=KEY))

    (payload,) = await converter.encode([SNAPSHOT])

    assert SNAPSHOT.sid.encode() not in payload.SerializeToString()
    assert await converter.decode([payload], [SimSnapshot]) == [SNAPSHOT]


def test_without_a_key_the_converter_does_not_encrypt() -> None:
    assert data_converter(SimopsSettings(_env_file=None)).payload_codec is None


@pytest.mark.parametrize("index", [0, 11, 12, -1], ids=["nonce", "nonce-end", "body", "tag"])
async def test_a_flipped_byte_fails_loudly(index: int) -> None:
    codec = EncryptionCodec.from_keys(KEY)
    encrypted = await encrypt(codec, plain('{"status": "active"}'))
    altered = bytearray(encrypted.data)
    altered[index] ^= 0x01
    encrypted.data = bytes(altered)

    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([encrypted])


async def test_a_truncated_payload_fails_loudly() -> None:
    codec = EncryptionCodec.from_keys(KEY)
    encrypted = await encrypt(codec, plain("{}"))
    encrypted.data = encrypted.data[:5]

    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([encrypted])


async def test_a_relabelled_key_id_fails_authentication() -> None:
    other = new_payload_key()
    codec = EncryptionCodec.from_keys(KEY, [other])
    encrypted = await encrypt(codec, plain("{}"))
    encrypted.metadata[KEY_ID_METADATA] = payload_key_id(parse_payload_key(other)).encode()

    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([encrypted])


async def test_a_payload_under_an_unknown_key_is_refused_naming_the_key_id() -> None:
    writer = EncryptionCodec.from_keys(KEY)
    reader = EncryptionCodec.from_keys(new_payload_key())
    encrypted = await encrypt(writer, plain("{}"))

    with pytest.raises(PayloadDecryptionError, match=writer.key_id):
        await reader.decode([encrypted])


async def test_rotation_opens_old_payloads_and_writes_under_the_new_key() -> None:
    new_key = new_payload_key()
    before = EncryptionCodec.from_keys(KEY)
    after = EncryptionCodec.from_keys(new_key, [KEY])
    written_before = await encrypt(before, plain('"old"'))

    written_after = await encrypt(after, plain('"new"'))

    assert await after.decode([written_before, written_after]) == [plain('"old"'), plain('"new"')]
    assert written_after.metadata[KEY_ID_METADATA] == after.key_id.encode()
    assert after.key_id != before.key_id
    with pytest.raises(PayloadDecryptionError):
        await before.decode([written_after])


async def test_unencrypted_payloads_pass_through_for_histories_older_than_the_key() -> None:
    codec = EncryptionCodec.from_keys(KEY)

    assert await codec.decode([plain('"written before"')]) == [plain('"written before"')]


@pytest.mark.parametrize(
    "key",
    [
        base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("="),
        base64.b64encode(bytes(range(200, 232))).decode(),
        base64.b64encode(bytes(range(200, 232))).decode() + "\n",
    ],
    ids=["url-safe-unpadded", "standard", "trailing-newline"],
)
def test_keys_in_either_base64_alphabet_are_the_same_key(key: str) -> None:
    assert parse_payload_key(key) == bytes(range(200, 232))


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SIMOPS_PAYLOAD_KEY", "c2hvcnQ=", "decodes to 5 bytes, not 32"),
        ("SIMOPS_PAYLOAD_KEY", "not*base64!", "not base64"),
        ("SIMOPS_PAYLOAD_OLD_KEYS", f"{KEY},c2hvcnQ", "decodes to 5 bytes, not 32"),
    ],
)
def test_a_malformed_key_is_a_clear_configuration_error_that_does_not_echo_it(
    variable: str,
    value: str,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)

    with pytest.raises(typer.Exit) as exited:
        load_settings()

    assert exited.value.exit_code == 2
    error = capsys.readouterr().err
    assert variable in error and problem in error and "simops codec-key" in error
    assert value not in error


def test_old_keys_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    old = [new_payload_key(), new_payload_key()]
    monkeypatch.setenv("SIMOPS_PAYLOAD_OLD_KEYS", f" {old[0]}, {old[1]} ")

    settings = SimopsSettings(_env_file=None)

    assert [key.get_secret_value() for key in settings.payload_old_keys] == old


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every payload inside a proto message, with its path (field names and map keys)."""
    if isinstance(message, Payload):
        yield path, message
        return
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE or descriptor.message_type is None:
            continue
        items: list[tuple[str, Any]]
        if descriptor.message_type.GetOptions().map_entry:
            items = [(f"{descriptor.name}.{key}", item) for key, item in value.items()]
        elif descriptor.is_repeated:
            items = [(descriptor.name, item) for item in value]
        else:
            items = [(descriptor.name, value)]
        for name, item in items:
            if isinstance(item, Message):
                yield from payloads_in(item, f"{path}/{name}")


SDK_PLAINTEXT = ("/search_attributes/", "/marker_recorded_event_attributes/details.data")
"""Payloads the codec never sees: search attributes (the server indexes them) and the SDK's
local-activity marker header (activity type, attempt, times; the result is encrypted)."""


@pytest.fixture
async def encrypted_client(dev_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    settings = SimopsSettings(_env_file=None, payload_key=KEY)
    yield await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(settings),
    )


async def test_an_activation_with_the_codec_on_stores_only_ciphertext(
    encrypted_client: Client, dev_env: WorkflowEnvironment, emulator_factory: Any
) -> None:
    emulator = await emulator_factory(seed_sims=3, scheduled_delay=(0.05, 0.05))
    async with local_stack(encrypted_client, emulator, payload_key=KEY) as stack:
        (sim_sid,) = [s.sid async for s in stack.api.list_sims(status=SimStatus.NEW, limit=1)]
        iccid = (await stack.api.fetch_sim(sim_sid)).iccid
        handle = await start_sim_activation(stack, sim_sid, client=encrypted_client)
        outcome = await handle.result()
    history = await handle.fetch_history()

    assert outcome.outcome == OutcomeKind.CONVERGED
    payloads = [found for event in history.events for found in payloads_in(event)]
    encrypted = [p for _, p in payloads if p.metadata["encoding"] == ENCRYPTED_ENCODING]
    readable = [(path, p) for path, p in payloads if p.metadata["encoding"] != ENCRYPTED_ENCODING]
    assert len(encrypted) >= 5
    assert all(any(part in path for part in SDK_PLAINTEXT) for path, _ in readable), readable
    assert all(sim_sid.encode() not in p.data for path, p in readable if "/marker" in path)
    assert all(sim_sid.encode() not in p.SerializeToString() for p in encrypted)
    assert iccid is not None and iccid not in history.to_json()
    with pytest.raises(Exception, match="binary/encrypted"):
        await dev_env.client.get_workflow_handle(handle.id).result()


async def test_a_worker_with_the_wrong_key_decides_nothing_and_loses_nothing(
    encrypted_client: Client, dev_env: WorkflowEnvironment, emulator_factory: Any
) -> None:
    emulator = await emulator_factory(seed_sims=1, scheduled_delay=(0.0, 0.0))
    other_key = SimopsSettings(_env_file=None, payload_key=new_payload_key())
    wrong_client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(other_key),
    )
    async with local_stack(wrong_client, emulator) as stack:
        (sim_sid,) = [s.sid async for s in stack.api.list_sims(status=SimStatus.NEW, limit=1)]
        handle = await start_sim_activation(stack, sim_sid, client=encrypted_client)
        for _ in range(100):
            events = [event async for event in handle.fetch_history_events()]
            if any(event.HasField("workflow_task_failed_event_attributes") for event in events):
                break
            await asyncio.sleep(0.05)

    # The task failed and will be retried; the workflow decided nothing and is still there for
    # a worker with the right key (Temporal retries a failed workflow task indefinitely).
    assert any(event.HasField("workflow_task_failed_event_attributes") for event in events)
    assert not any(event.HasField("marker_recorded_event_attributes") for event in events)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    async with SuperSimClient(stack.settings) as api:
        assert (await api.fetch_sim(sim_sid)).status == SimStatus.NEW
    await handle.terminate("test over")
