"""How fast a budget may send below its ceiling: backing off from 429s caused by load, and not
from 429s that would come whatever the pace (noise).

Pure: no I/O and no clock of its own; `RateBudget` feeds it the outcome of each request and the
time, and applies the pace it returns.

A 429 caused by load (the account's limit, shared with everybody else on the account) becomes
rarer when the account sends more slowly; a 429 that comes at random (a fault, a limit on
something else) comes as often at any pace. So the controller never believes one share of 429s
alone; it asks whether the share falls when the pace falls:

- requests are judged in windows of at least `window_seconds` (a check window also waits for
  `min_noise_answers` answers, up to `longest_check_seconds`), each request in the window in
  which it was granted (so the requests sent at one pace are compared with those sent at
  another, not with the answers that happened to arrive meanwhile);
- **cruising**: a window whose 429s are well above the noise floor (the share of 429s that did
  not fall when the pace fell, learned so far) is a suspicion: the pace drops to `backoff` times
  the rate the API accepted over that window and the one before, and the next window
  **checks**;
- **checking**: if the share of 429s at the lower pace is not significantly lower (on at least
  `min_noise_answers` answers, and at most `max_noise_share`), the 429s were noise: the pace
  goes back to where it was. If it fell, they were load: the pace stays low (or
  drops again, while the 429s at the lower pace are still above the floor). Either way the
  check window's share is what is left at the lower pace: it is added to the noise floor. The
  suspicious window is not: it was chosen for being high;
- otherwise the pace climbs by `climb` per window near the rate the API accepted when load was
  last suspected (by `fast_climb` far below it, to come back quickly from a storm, and past it,
  where the limit has moved), and once it reaches the ceiling the controller stops restricting.

The ceiling (`--rate`, the account's share, a `resize`) is never exceeded: the controller only
says how far below it to stay, and a pace it climbed above the ceiling is no pace at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadControlTuning:
    """The controller's constants (the defaults are what the benchmarks measured)."""

    window_seconds: float = 1.0
    """A window ends at its first outcome this long after its first grant."""
    backoff: float = 0.9
    """A suspicion sets the pace to this share of the rate the API accepted."""
    climb: float = 0.02
    """The pace grows by this share per window without a suspicion."""
    fast_climb: float = 0.1
    """… and by this share outside `slow_from`..`slow_until` times the rate the API accepted
    when load was last suspected."""
    slow_from: float = 0.5
    slow_until: float = 1.1
    suspicion_z: float = 3.0
    """Standard deviations above the noise floor that make a window suspicious …"""
    suspicion_slack: float = 2.0
    """… plus this many 429s, so that one stray 429 over a floor of zero is not load."""
    fall_z: float = 2.33
    """Standard deviations by which the share must fall at the lower pace to be load (1 %)."""
    max_noise_share: float = 0.5
    """A share of 429s above this is never taken for noise, however it changes with the pace:
    sending on at the same pace would waste most requests (an API refusing nearly everything)."""
    min_noise_answers: int = 30
    """Answers a window needs before its 429s can be taken for noise."""
    longest_check_seconds: float = 5.0
    """A check window waits this long at most for `min_noise_answers` answers."""
    min_rps: float = 1.0
    """The pace never drops below this many requests per second."""
    noise_memory: float = 2000.0
    """Requests of the most recent check windows the noise floor is estimated from."""


@dataclass(slots=True)
class _Tally:
    """The requests granted in one window, their answers so far, and when the first went."""

    started: float
    granted: int = 0
    answered: int = 0
    rate_limited: int = 0

    @property
    def share(self) -> float:
        return self.rate_limited / self.answered if self.answered else 0.0


class LoadControl:
    """The pace one budget may use below its ceiling (see the module doc)."""

    def __init__(self, tuning: LoadControlTuning | None = None) -> None:
        self.tuning = tuning or LoadControlTuning()
        self.pace: float | None = None
        """Requests per second at most, below the ceiling; `None`: the ceiling alone."""
        self.window = 0
        """The window requests granted now belong to."""
        self.backoffs = 0
        """Suspicions so far (each lowered the pace at least for one window)."""
        self._tally: _Tally | None = None
        self._suspicious: _Tally | None = None
        """While checking: the window that raised the suspicion."""
        self._pace_before: float | None = None
        """While checking: the pace to go back to if the 429s turn out to be noise."""
        self._limit_estimate = 0.0
        """Requests per second the API accepted when load was last suspected."""
        self._before = (0.0, 0.0)
        """Requests the API accepted in the previous window, and its length in seconds."""
        self._noise_answered = 0.0
        self._noise_rate_limited = 0.0

    @property
    def noise_share(self) -> float:
        """The share of 429s that did not fall when the pace fell (the noise floor)."""
        if not self._noise_answered:
            return 0.0
        return self._noise_rate_limited / self._noise_answered

    def granted(self, now: float) -> int:
        """A request is granted at `now`: the window its answer counts in."""
        if self._tally is None:
            self._tally = _Tally(now)
        self._tally.granted += 1
        return self.window

    def answered(self, window: int, *, rate_limited: bool, now: float, ceiling: float) -> bool:
        """The answer to a request granted in `window`; whether the pace changed.

        Answers to requests of earlier windows only end the current window when it is due.
        """
        tally = self._tally
        if tally is None:
            return False
        if window == self.window:
            tally.answered += 1
            tally.rate_limited += rate_limited
        if not self._due(tally, now - tally.started):
            return False
        before = self.pace
        self._tally = None
        self.window += 1
        self._judge(tally, now - tally.started, ceiling)
        return self.pace != before

    def _due(self, tally: _Tally, seconds: float) -> bool:
        tuning = self.tuning
        if seconds < tuning.window_seconds or not tally.answered:
            return False
        # A check waits for enough answers to tell noise (at a low pace, which is safe).
        return (
            self._suspicious is None
            or tally.answered >= tuning.min_noise_answers
            or seconds >= tuning.longest_check_seconds
        )

    def _judge(self, tally: _Tally, seconds: float, ceiling: float) -> None:
        # From what was sent, not from what was answered: the answers still on their way when
        # the window ended would make the API look slower than it is.
        accepted = tally.granted * (1.0 - tally.share)
        # Over this window and the one before: a window's 429s may come from a burst in the
        # one before, and its requests may be few because the refused ones are asleep until
        # their `Retry-After`, which says nothing of what the API can take.
        before_accepted, before_seconds = self._before
        capacity = (accepted + before_accepted) / (seconds + before_seconds)
        self._before = (accepted, seconds)
        suspicious = self._above_noise(tally)
        reference = self._suspicious
        if reference is None:
            if suspicious:
                self._pace_before = self.pace
                self._limit_estimate = capacity
                self._back_off(tally, capacity)
            else:
                self._climb(ceiling)
            return
        self._suspicious = None
        if self._noise_like(reference, tally):
            # As many 429s at the lower pace: they were not caused by the pace.
            self._learn_noise(tally)
            self.pace = self._pace_before
        elif suspicious:
            # Fewer 429s, but still more than noise: more load than one step took off.
            self._back_off(tally, capacity)
        else:
            self._learn_noise(tally)

    def _noise_like(self, high: _Tally, low: _Tally) -> bool:
        """Whether the 429s of `low`, at the lower pace, are as common as those of `high`,
        on enough answers to say so: with too few, the 429s are taken for load (the safe
        side: the pace stays low)."""
        return self._evidence(low) and not _fell(high, low, self.tuning.fall_z)

    def _evidence(self, tally: _Tally) -> bool:
        """Whether a window's 429s may count as evidence of noise."""
        tuning = self.tuning
        return tally.answered >= tuning.min_noise_answers and tally.share <= tuning.max_noise_share

    def _back_off(self, tally: _Tally, accepted: float) -> None:
        self.pace = max(self.tuning.min_rps, self.tuning.backoff * accepted)
        self._suspicious = tally
        self.backoffs += 1

    def _climb(self, ceiling: float) -> None:
        if self.pace is None:
            return
        # Slowly where the last load was found, so that the limit is approached gently and
        # found again with few 429s; fast far below it (after a storm) and past it (the limit
        # was raised, or the load came from others who stopped).
        near = self._limit_estimate * self.tuning.slow_from <= self.pace
        near = near and self.pace <= self._limit_estimate * self.tuning.slow_until
        self.pace *= 1.0 + (self.tuning.climb if near else self.tuning.fast_climb)
        if self.pace >= ceiling:
            self.pace = None

    def _above_noise(self, tally: _Tally) -> bool:
        noise = self.noise_share
        expected = tally.answered * noise
        spread = math.sqrt(expected * (1.0 - noise))
        threshold = expected + self.tuning.suspicion_z * spread + self.tuning.suspicion_slack
        return tally.rate_limited > threshold

    def _learn_noise(self, tally: _Tally) -> None:
        # A few answers say little, and a share above `max_noise_share` is never noise.
        if not self._evidence(tally):
            return
        # The oldest evidence fades so the floor follows a noise that changes, `noise_memory`
        # requests at most being remembered.
        room = max(0.0, self.tuning.noise_memory - tally.answered)
        if self._noise_answered > room:
            kept = room / self._noise_answered
            self._noise_answered *= kept
            self._noise_rate_limited *= kept
        self._noise_answered += tally.answered
        self._noise_rate_limited += tally.rate_limited


def _fell(high: _Tally, low: _Tally, z: float) -> bool:
    """Whether the share of 429s in `low` is significantly below that in `high` (one-sided
    two-proportion z-test)."""
    pooled = (high.rate_limited + low.rate_limited) / (high.answered + low.answered)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / high.answered + 1.0 / low.answered))
    if spread == 0.0:
        return False
    return (high.share - low.share) / spread >= z
