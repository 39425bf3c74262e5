"""Signing and verifying Super SIM callbacks: KORE's `kore-signature` and `X-Twilio-Signature`.

The emulator signs with these functions and the callback ingress verifies with them, so both
ends of a callback agree by construction; the reference page's vectors pin them to the providers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

KORE_SIGNATURE_HEADER = "kore-signature"
KORE_IDEMPOTENCY_HEADER = "kore-idempotency-token"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


def _url_without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def kore_signature(secret: str, method: str, url: str, raw_body: bytes) -> str:
    """KORE's signature: hex SHA-256 (not an HMAC) of secret + METHOD + URL sans query + body."""
    digest = hashlib.sha256()
    digest.update(secret.encode())
    digest.update(method.upper().encode())
    digest.update(_url_without_query(url).encode())
    digest.update(raw_body)
    return digest.hexdigest()


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's signature: Base64 HMAC-SHA1 of the full URL then each POST param, sorted by name."""
    payload = url + "".join(name + value for name, value in sorted(params))
    mac = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def same_digest(expected: str, given: str) -> bool:
    """Whether `given` (from a request: anything at all) equals `expected`, in constant time.

    Compared as bytes: `hmac.compare_digest` raises `TypeError` on a str that is not ASCII, and
    a request's header or path may hold any character (lone surrogates included, from bytes
    that were not UTF-8).
    """
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def verify_kore_signature(
    secret: str, method: str, url: str, raw_body: bytes, signature: str | None
) -> bool:
    """Whether `signature` is KORE's signature of this request (constant-time compare)."""
    if not signature:
        return False
    expected = kore_signature(secret, method, url, raw_body)
    return same_digest(expected, signature.strip().lower())


def verify_twilio_signature(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """Whether `signature` is Twilio's signature of this request (constant-time compare)."""
    if not signature:
        return False
    expected = twilio_signature(auth_token, url, params)
    return same_digest(expected, signature.strip())
