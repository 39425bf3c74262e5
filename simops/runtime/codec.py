"""Encrypting workflow payloads (AES-256-GCM) so the Temporal cluster stores only ciphertext.

With `SIMOPS_PAYLOAD_KEY` set, every payload simops hands to Temporal (workflow inputs and
results, activity arguments, signals, queries, local-activity markers, failure details) is the
whole serialized payload, encrypted under that key and wrapped in a payload whose metadata says
`encoding: binary/encrypted` and names the key by its id. The key id is a hash of the key, so a
payload says which key opens it without anyone naming keys: to rotate, make the new key
`SIMOPS_PAYLOAD_KEY` and list the old one in `SIMOPS_PAYLOAD_OLD_KEYS` until every history
written under it has closed.

A payload that is not encrypted is passed through as it is, so histories written before the
codec was turned on still replay. An encrypted payload that fails authentication, or whose key
is not configured, is an error: never a silent fallback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

KEY_BYTES = 32
"""AES-256: a key is 32 random bytes."""

NONCE_BYTES = 12
"""The GCM nonce, random per payload and stored in front of the ciphertext."""

ENCODING_METADATA = "encoding"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"

KEY_FORMAT_HINT = (
    "a payload key is the base64 of 32 random bytes: `simops codec-key` prints a fresh one"
)


class PayloadKeyError(ValueError):
    """A configured payload key is not the base64 of 32 bytes (the message never shows it)."""


class PayloadDecryptionError(Exception):
    """An encrypted payload cannot be opened: unknown key id, or altered since it was written."""


def parse_payload_key(text: str) -> bytes:
    """The 32 key bytes of a base64 key (standard or URL-safe alphabet, padding optional)."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except binascii.Error:
        raise PayloadKeyError(f"not base64: {KEY_FORMAT_HINT}") from None
    if len(key) != KEY_BYTES:
        raise PayloadKeyError(f"decodes to {len(key)} bytes, not {KEY_BYTES}: {KEY_FORMAT_HINT}")
    return key


def new_payload_key() -> str:
    """A fresh random key, as `SIMOPS_PAYLOAD_KEY` takes it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def payload_key_id(key: bytes) -> str:
    """The id a payload records for the key that encrypted it: 16 hex digits of a hash of it."""
    return hashlib.sha256(b"simops-payload-key:" + key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads; encrypts under the current key, opens with any known.

    The key id is the associated data of the cipher, so a payload cannot be relabelled as
    another key's without failing authentication.
    """

    def __init__(self, key: bytes, old_keys: Iterable[bytes] = ()) -> None:
        self.key_id = payload_key_id(key)
        self._encrypting = AESGCM(key)
        self._opening = {payload_key_id(old): AESGCM(old) for old in old_keys}
        self._opening[self.key_id] = self._encrypting

    @classmethod
    def from_keys(cls, key: str, old_keys: Iterable[str] = ()) -> EncryptionCodec:
        """A codec from base64 keys as configured (`PayloadKeyError` for a malformed one)."""
        return cls(parse_payload_key(key), [parse_payload_key(old) for old in old_keys])

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload encrypted whole (metadata and data) under the current key."""
        key_id = self.key_id.encode()
        encrypted = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._encrypting.encrypt(nonce, payload.SerializeToString(), key_id)
            encrypted.append(
                Payload(
                    metadata={ENCODING_METADATA: ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id},
                    data=nonce + sealed,
                )
            )
        return encrypted

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each encrypted payload opened; one never encrypted is returned as it is."""
        return [self._open(payload) for payload in payloads]

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get(ENCODING_METADATA) != ENCRYPTED_ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"")
        cipher = self._opening.get(key_id.decode("ascii", "replace"))
        if cipher is None:
            raise PayloadDecryptionError(
                f"a payload is encrypted under key id {key_id.decode('ascii', 'replace')!r}, "
                "which is neither SIMOPS_PAYLOAD_KEY nor one of SIMOPS_PAYLOAD_OLD_KEYS"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            opened = cipher.decrypt(nonce, sealed, key_id)
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
            raise PayloadDecryptionError(
                f"an encrypted payload (key id {key_id.decode('ascii', 'replace')!r}) failed "
                "authentication: it was altered after it was written"
            ) from None
        return Payload.FromString(opened)
