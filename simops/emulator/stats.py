"""Counters behind `GET /_emulator/stats`: requests, state-changing writes, callbacks; and the
request and write logs behind `GET /_emulator/requests` and `GET /_emulator/writes`.

A state-changing write is an accepted update whose effect changed status, Fleet, account or
unique name; per-Sim counts live in an array indexed by the Sim's index (4 bytes a Sim where a
dict keyed by SID took 40: a million Sims written once must fit in 600 bytes each). The logs
keep their entries in columns for the same reason: 50 bytes an entry where a tuple, its float
and the strings of the request took about 200 (80 MiB for the two logs full).
"""

from __future__ import annotations

import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from simops.emulator.state import SimRecord

WRITE_LOG_SIZE = 200_000
"""State-changing writes the log keeps (the newest): enough for any test, bounded for a 1M run."""

REQUEST_LOG_SIZE = 200_000
"""Answered API requests the log keeps (the newest): the write log's bound, for the same reasons."""


class LoggedWrite(NamedTuple):
    """One state-changing write as the API applied it: when (Unix time, the host's clock, not
    the emulator's adjustable one), on which SIM, from which status, and what was asked."""

    at: float
    sim_sid: str
    from_status: str
    status: str | None
    account_sid: str | None
    fleet: str | None
    unique_name: str | None


class LoggedRequest(NamedTuple):
    """One answered API request: when (Unix time, the host's clock), the account it counted
    against (None when unauthenticated), the route template, the Sim its path names as sent (a
    SID, or a unique name when the client addressed the Sim by name; None when the path names
    none) and the HTTP status answered."""

    at: float
    account_sid: str | None
    method: str
    route: str
    sim_sid: str | None
    status: int


class RingLog:
    """The newest `capacity` entries of a log, oldest first, each field in a column of its own
    (`array("d")` for a time, `array("H")` for an HTTP status, a list for the rest)."""

    def __init__(self, capacity: int, columns: Sequence[Callable[[], MutableSequence[Any]]]):
        self._capacity = capacity
        self._factories = columns
        self._columns = [make() for make in columns]
        self._oldest = 0

    def append(self, *entry: Any) -> None:
        """Add an entry (one value per column), dropping the oldest once full."""
        columns = self._columns
        if len(columns[0]) < self._capacity:
            for column, value in zip(columns, entry, strict=True):
                column.append(value)
            return
        at = self._oldest
        for column, value in zip(columns, entry, strict=True):
            column[at] = value
        self._oldest = (at + 1) % self._capacity

    def entries(self) -> Iterator[tuple[Any, ...]]:
        """Every entry, oldest first."""
        columns = self._columns
        count = len(columns[0])
        for position in range(count):
            at = (self._oldest + position) % count
            yield tuple(column[at] for column in columns)

    def clear(self) -> None:
        """Drop every entry."""
        self._columns = [make() for make in self._factories]
        self._oldest = 0


def _times() -> array[float]:
    return array("d")


def _statuses() -> array[int]:
    return array("H")


def _write_log() -> RingLog:
    return RingLog(WRITE_LOG_SIZE, [_times, list, list, list, list, list, list])


def _request_log() -> RingLog:
    return RingLog(REQUEST_LOG_SIZE, [_times, list, list, list, list, _statuses])


def _shared(text: str | None) -> str | None:
    """`text` as the one string object of its value that the logs keep: a request's Fleet,
    account and method repeat over thousands of entries (interned strings are freed when no
    longer used)."""
    return None if text is None else sys.intern(text)


@dataclass(slots=True)
class CallbackCounters:
    """What happened to completion callbacks."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    duplicated: int = 0


@dataclass
class Stats:
    """Every counter of the emulator since start (or the last reset); `sims` is the store's
    list of Sims by index, which names the Sims of the per-Sim counts."""

    sims: Sequence[SimRecord]
    requests: dict[str, Counter[int]] = field(default_factory=dict)
    writes_by_index: array[int] = field(default_factory=lambda: array("I"))
    sims_written: int = 0
    state_changing_writes: int = 0
    max_writes_per_sim: int = 0
    callbacks: CallbackCounters = field(default_factory=CallbackCounters)
    write_log: RingLog = field(default_factory=_write_log)
    request_log: RingLog = field(default_factory=_request_log)

    def record_request(self, method: str, route: str, status: int) -> None:
        """Count one answered request under `METHOD route-template`."""
        key = f"{method} {route}"
        by_status = self.requests.get(key)
        if by_status is None:
            by_status = self.requests[key] = Counter()
        by_status[status] += 1

    def log_request(
        self, account_sid: str | None, method: str, route: str, sim_sid: str | None, status: int
    ) -> None:
        """Log one answered API request (control routes are not logged)."""
        # The SID as sent is a new string per request; its Sim is usually asked for again.
        self.request_log.append(
            time.time(), account_sid, _shared(method), route, _shared(sim_sid), status
        )

    def record_write(
        self,
        sim: SimRecord,
        from_status: str = "",
        *,
        status: str | None = None,
        account_sid: str | None = None,
        fleet: str | None = None,
        unique_name: str | None = None,
    ) -> None:
        """Count one state-changing write on a Sim, and log it with what it asked."""
        self.write_log.append(
            time.time(),
            sim.sid,
            from_status,
            status,
            _shared(account_sid),
            _shared(fleet),
            unique_name,
        )
        self.state_changing_writes += 1
        counts = self.writes_by_index
        if sim.index >= len(counts):
            counts.extend(array("I", [0]) * (sim.index + 1 - len(counts)))
        count = counts[sim.index] + 1
        counts[sim.index] = count
        if count == 1:
            self.sims_written += 1
        if count > self.max_writes_per_sim:
            self.max_writes_per_sim = count

    def reset(self) -> None:
        """Zero every counter."""
        self.requests = {}
        self.writes_by_index = array("I")
        self.sims_written = 0
        self.state_changing_writes = 0
        self.max_writes_per_sim = 0
        self.callbacks = CallbackCounters()
        self.write_log.clear()
        self.request_log.clear()

    def writes(self) -> list[dict[str, Any]]:
        """The write log, oldest first (`GET /_emulator/writes`)."""
        return [LoggedWrite._make(entry)._asdict() for entry in self.write_log.entries()]

    def logged_requests(self, since: float | None = None) -> list[dict[str, Any]]:
        """The request log, oldest first, only entries at or after `since` when given
        (`GET /_emulator/requests`)."""
        # Every entry is checked rather than bisected: the host's clock may step back, so the
        # log, in the order of the answers, need not be sorted by time.
        return [
            LoggedRequest._make(entry)._asdict()
            for entry in self.request_log.entries()
            if since is None or entry[0] >= since
        ]

    def writes_per_sim(self) -> dict[str, int]:
        """State-changing writes per Sim SID, of the Sims written at least once."""
        sims = self.sims
        return {sims[index].sid: count for index, count in enumerate(self.writes_by_index) if count}

    def snapshot(self, *, per_sim: bool) -> dict[str, Any]:
        """The stats page; `per_sim=False` leaves out the (possibly huge) per-Sim counts."""
        requests = {
            route: {str(status): count for status, count in sorted(by_status.items())}
            for route, by_status in sorted(self.requests.items())
        }
        writes: dict[str, Any] = {"total": self.state_changing_writes}
        if per_sim:
            writes["per_sim"] = self.writes_per_sim()
        return {
            "requests": requests,
            "requests_total": sum(sum(by.values()) for by in self.requests.values()),
            "state_changing_writes": writes,
            "max_writes_per_sim": self.max_writes_per_sim,
            "sims_written": self.sims_written,
            "callbacks": {
                "sent": self.callbacks.sent,
                "failed": self.callbacks.failed,
                "retried": self.callbacks.retried,
                "dropped": self.callbacks.dropped,
                "duplicated": self.callbacks.duplicated,
            },
        }
