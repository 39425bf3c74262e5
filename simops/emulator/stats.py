"""Counters behind `GET /_emulator/stats`: requests, state-changing writes, callbacks; and the
request and write logs behind `GET /_emulator/requests` and `GET /_emulator/writes`.

A state-changing write is an accepted update whose effect changed status, Fleet, account or
unique name; per-Sim counts live in an array indexed by the Sim's index (4 bytes a Sim where a
dict keyed by SID took 40: a million Sims written once must fit in 600 bytes each).
"""

from __future__ import annotations

import time
from array import array
from collections import Counter, deque
from collections.abc import Sequence
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
    write_log: deque[LoggedWrite] = field(default_factory=lambda: deque(maxlen=WRITE_LOG_SIZE))
    request_log: deque[LoggedRequest] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE)
    )

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
        # One tuple appended and nothing else: this runs on every request, and the emulator's
        # CPU per request is a benchmark's figure.
        self.request_log.append(
            LoggedRequest(time.time(), account_sid, method, route, sim_sid, status)
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
            LoggedWrite(time.time(), sim.sid, from_status, status, account_sid, fleet, unique_name)
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
        return [entry._asdict() for entry in self.write_log]

    def logged_requests(self, since: float | None = None) -> list[dict[str, Any]]:
        """The request log, oldest first, only entries at or after `since` when given
        (`GET /_emulator/requests`)."""
        # Every entry is checked rather than bisected: the host's clock may step back, so the
        # log, in the order of the answers, need not be sorted by time.
        return [entry._asdict() for entry in self.request_log if since is None or entry.at >= since]

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
