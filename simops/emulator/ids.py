"""SIDs and secrets, drawn from one seeded random generator so a seeded run is reproducible."""

from __future__ import annotations

import random


class IdFactory:
    """Makes SIDs (2-letter prefix + 32 hex digits), secrets and idempotency tokens."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def sid(self, prefix: str) -> str:
        """A new SID with the given prefix, e.g. `HS` for a Sim."""
        return f"{prefix}{self._rng.getrandbits(128):032x}"

    def secret(self) -> str:
        """A 32-hex-digit secret (auth tokens, client secrets, webhook secrets)."""
        return f"{self._rng.getrandbits(128):032x}"

    def token(self) -> str:
        """A UUID-shaped token, e.g. for `kore-idempotency-token`."""
        raw = f"{self._rng.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
