"""SIDs, ICCIDs and secrets: drawn from one seeded random generator so a seeded run is
reproducible, or derived from what they name so that a million of them need not be stored."""

from __future__ import annotations

import hashlib
import random
import re

from simops.core.iccids import luhn_check_digit

ICCID_PREFIX = "89883070"
SERIAL_DIGITS = 11


def iccid_for(serial: int) -> str:
    """The 20-digit ICCID with the given serial number (issuer prefix `89883070`, Super SIM's,
    and a Luhn check digit, so it passes the same validation real ones do)."""
    body = f"{ICCID_PREFIX}{serial:0{SERIAL_DIGITS}d}"
    return body + luhn_check_digit(body)


def serial_of(iccid: str) -> int | None:
    """The serial number `iccid_for` made `iccid` from; None when it did not make it."""
    serial_text = iccid[len(ICCID_PREFIX) : -1]
    if len(iccid) != len(ICCID_PREFIX) + SERIAL_DIGITS + 1 or not serial_text.isdigit():
        return None
    serial = int(serial_text)
    return serial if iccid_for(serial) == iccid else None


DIGIT_RUN = re.compile(r"\d{19}")
"""19 digits in a row: what the secrets scanner (`simops.scan`) takes for a full ICCID."""


def derived_sid(prefix: str, name: str) -> str:
    """A SID that `name` alone determines (e.g. a Sim's SID and a period number): records the
    emulator keeps by the million in columns get their SID from what they belong to.

    A digest with 19 digits in a row is hashed again (with a counter): in a history, the
    scanner would report it as a leaked ICCID, and a derived SID is the same on every run.
    """
    salt = 0
    while True:
        digest = hashlib.blake2b(
            f"{name}#{salt}".encode() if salt else name.encode(), digest_size=16
        )
        sid = prefix + digest.hexdigest()
        if DIGIT_RUN.search(sid) is None:
            return sid
        salt += 1


class IdFactory:
    """Makes SIDs (2-letter prefix + 32 hex digits), secrets and idempotency tokens."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def sid(self, prefix: str) -> str:
        """A new SID with the given prefix, e.g. `HS` for a Sim; never one with 19 digits in a
        row (about one in 550 draws has them), which the secrets scanner would report as a
        leaked ICCID wherever the SID is recorded."""
        while DIGIT_RUN.search(sid := f"{prefix}{self._rng.getrandbits(128):032x}"):
            pass
        return sid

    def secret(self) -> str:
        """A 32-hex-digit secret (auth tokens, client secrets, webhook secrets)."""
        return f"{self._rng.getrandbits(128):032x}"

    def token(self) -> str:
        """A UUID-shaped token, e.g. for `kore-idempotency-token`."""
        raw = f"{self._rng.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
