"""Which listed SIMs a campaign's rows may name, so that the snapshot keeps only those.

A campaign from a file lists the whole account to resolve its rows, and the account may hold
many more SIMs than the file names: `bench.million_bench`'s million-row campaign lists 2.1
million. Writing every listed SIM into the snapshot cost about as much again as the SIMs the
rows name (`bench.campaign_prepare_bench --account-sims`), and the snapshot is only ever read
through the rows' references: a SIM's SID, ICCID or unique name.

The set of references is a Bloom filter: a million references take 2 MiB where a set of their
strings would take about 100 MiB in the worker, whose memory must not follow the campaign's
size. A false positive only keeps an extra SIM in the snapshot (0.5-1.5 % of the listed SIMs
no row names), which is what the snapshot did with every SIM before; there are no false
negatives, so a row never misses its SIM. It hashes with Python's `hash`, salted per process:
a filter lives for one preparation in one process and is never stored.
"""

from __future__ import annotations

from simops.campaigns.sources import ReferenceKind
from simops.supersim.resources import SimSummary

BITS_PER_REFERENCE = 16
"""With 3 probes a reference, 0.5 % of references never added pass: about 0.5 % of the listed
SIMs no row names when the rows name SIMs one way (by ICCID, say), 1 % when two."""
_HASH_MASK = (1 << 64) - 1


class WantedSims:
    """The references of a campaign's rows (and the unique names they ask for), as a Bloom
    filter sized for `expected` of them. A listed SIM is tried only by the kinds of reference
    added: a file of ICCIDs costs one probe of each SIM (and passes half as many others)."""

    def __init__(self, expected: int) -> None:
        self._bits_count = max(64, expected * BITS_PER_REFERENCE)
        self._bits = bytearray((self._bits_count + 7) // 8)
        self._kinds: set[ReferenceKind] = set()

    def _positions(self, reference: str) -> tuple[int, int, int]:
        digest = hash(reference) & _HASH_MASK
        # Double hashing: the probes from the two halves of one 64-bit hash.
        first, step, size = digest & 0xFFFF_FFFF, (digest >> 32) | 1, self._bits_count
        return first % size, (first + step) % size, (first + 2 * step) % size

    def add(self, kind: ReferenceKind, reference: str) -> None:
        """Remember one reference: a SID, an ICCID or a unique name."""
        self._kinds.add(kind)
        bits = self._bits
        for position in self._positions(reference):
            bits[position >> 3] |= 1 << (position & 7)

    def may_hold(self, reference: str) -> bool:
        """Whether `reference` may have been added (never `False` for one that was)."""
        bits = self._bits
        for position in self._positions(reference):
            if not bits[position >> 3] & (1 << (position & 7)):
                return False
        return True

    def wants(self, sim: SimSummary) -> bool:
        """Whether a row may name `sim`, by its SID, its ICCID or its unique name."""
        kinds = self._kinds
        return (
            (ReferenceKind.ICCID in kinds and sim.iccid is not None and self.may_hold(sim.iccid))
            or (ReferenceKind.SID in kinds and self.may_hold(sim.sid))
            or (
                ReferenceKind.UNIQUE_NAME in kinds
                and bool(sim.unique_name)
                and self.may_hold(sim.unique_name or "")
            )
        )
