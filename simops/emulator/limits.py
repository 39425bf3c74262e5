"""Per-account request limits: concurrent requests in flight and a requests-per-second budget.

Both count against the authenticated account (the parent acting on a child's Sim spends the
parent's budget). Beyond either limit the request is refused with 429 / 20429 before any work;
the rate limit adds `Retry-After` in whole seconds (rounded up, at least 1).
"""

from __future__ import annotations

import math
import time

from simops.core.codes import RuleCode
from simops.emulator.errors import ApiError


class TokenBucket:
    """A bucket of `rate` tokens per second holding at most `rate` (one second of burst)."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take one token; 0.0 if granted, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class AccountLimits:
    """The concurrency and rate limits of every account, enforced per request."""

    def __init__(self, max_concurrency: int | None, rate: float | None) -> None:
        self.max_concurrency = max_concurrency
        self.rate = rate
        self._in_flight: dict[str, int] = {}
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit is configured."""
        return self.max_concurrency is not None or self.rate is not None

    def acquire(self, account_sid: str) -> None:
        """Admit one request of `account_sid` or raise the 429; pair with `release`."""
        in_flight = self._in_flight.get(account_sid, 0)
        if self.max_concurrency is not None and in_flight >= self.max_concurrency:
            raise ApiError(
                429,
                RuleCode.RATE_LIMITED,
                f"Too many concurrent requests: at most {self.max_concurrency} per account",
            )
        if self.rate is not None:
            bucket = self._buckets.get(account_sid)
            if bucket is None:
                bucket = self._buckets[account_sid] = TokenBucket(self.rate)
            wait = bucket.take()
            if wait > 0.0:
                raise ApiError(
                    429,
                    RuleCode.RATE_LIMITED,
                    f"Too many requests: at most {self.rate:g} per second per account",
                    retry_after=max(1, math.ceil(wait)),
                )
        self._in_flight[account_sid] = in_flight + 1

    def release(self, account_sid: str) -> None:
        """A request admitted by `acquire` has finished."""
        self._in_flight[account_sid] -= 1
