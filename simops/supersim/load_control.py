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
  the rate the API takes, and the next window **checks**. When the pace held the window's
  requests back, that rate is what the API accepted from the window's first 429 on (the limit
  itself: an allowance such as a token bucket's, which let the pace run past the limit
  unnoticed, was spent by then); otherwise (a start's burst, too little to send) it is what
  the API accepted over that window and the one before, only a bound under the limit;
- **checking**: if the share of 429s at the lower pace is not significantly lower than the
  suspicious window's from its first 429 on (on at least `min_noise_answers` answers, and at
  most `max_noise_share`), the 429s were noise: the pace goes back to where it was. If it fell,
  they were load: the pace stays low (or drops again, while the 429s at the lower pace are
  still above the floor). Either way the check window's share is what is left at the lower
  pace: it is added to the noise floor. The suspicious window is not: it was chosen for being
  high;
- otherwise the pace climbs by `climb` per window near the limit last found (from `slow_from`
  times it up to `slow_until` past a limit measured at it, `slow_until_bound` past a bound
  under it), by `fast_climb` far below it (to come back quickly from a storm) and past it
  (where the limit has moved), and once it reaches the ceiling the controller stops
  restricting.

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
    """… and by this share outside `slow_from`..`slow_until` (or `slow_until_bound`) times the
    limit last found."""
    slow_from: float = 0.5
    slow_until: float = 1.5
    """A limit measured at it (by a window the pace held back) is approached slowly up to this
    far past it: a bucket's allowance (a second of the limit, say) hides the excess until
    about 1.2 times the limit at `climb` a window …"""
    slow_until_bound: float = 1.1
    """… a rate the API only took (a window held back by how little there was to send, a
    start's burst) is a bound under the limit, maybe far under: slowly up to this far past it."""
    suspicion_z: float = 3.0
    """Standard deviations above the noise floor that make a window suspicious …"""
    suspicion_slack: float = 2.0
    """… plus this many 429s, so that one stray 429 over a floor of zero is not load."""
    load_z: float = 4.0
    """… or, from a window's first 429 on (while a pace holds the requests back), this many,
    which ends the window at once."""
    fall_z: float = 2.33
    """Standard deviations by which the share must fall at the lower pace to be load (1 %)."""
    max_noise_share: float = 0.5
    """A share of 429s above this is never taken for noise, however it changes with the pace:
    sending on at the same pace would waste most requests (an API refusing nearly everything)."""
    min_noise_answers: int = 30
    """Answers a window needs before its 429s can be taken for noise."""
    longest_check_seconds: float = 5.0
    """A check window waits this long at most for `min_noise_answers` answers."""
    paced: float = 0.9
    """A window whose requests were granted at this share of the pace or more was held back by
    the pace, not by how little there was to send: only then do its answers after its first
    429 tell the rate the API takes."""
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
    limited: bool = False
    """Whether a 429 was answered yet."""
    answered_since: int = 0
    """Answers after the first 429 (not counting it) …"""
    rate_limited_since: int = 0
    """… and the 429s among them."""

    @property
    def share(self) -> float:
        return self.rate_limited / self.answered if self.answered else 0.0

    def count(self, *, rate_limited: bool) -> None:
        """One answer to a request granted in this window."""
        self.answered += 1
        self.rate_limited += rate_limited
        if self.limited:
            self.answered_since += 1
            self.rate_limited_since += rate_limited
        else:
            self.limited = rate_limited

    def counts_since_first_429(self, min_answers: int) -> tuple[int, int]:
        """Answers and 429s from the first 429 on (not counting it), when at least
        `min_answers`; else the whole window's.

        A 429 caused by load marks the moment the API's allowance (a bucket, say) ran out,
        and the answers before it say nothing of how much the pace exceeds the limit: over the
        whole window the share understates the load, and a check at a lower pace that is still
        above the limit would find as many 429s and take them for noise. Noise comes at random,
        so the answers after the first 429 are a fair sample of it too.
        """
        if self.answered_since >= min_answers:
            return self.answered_since, self.rate_limited_since
        return self.answered, self.rate_limited


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
        self._limit_measured = False
        """Whether `_limit_estimate` was measured at the limit (else: a bound under it)."""
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
            tally.count(rate_limited=rate_limited)
        if not self._due(tally, now - tally.started):
            return False
        before = self.pace
        self._tally = None
        self.window += 1
        self._judge(tally, now - tally.started, ceiling)
        return self.pace != before

    def _due(self, tally: _Tally, seconds: float) -> bool:
        tuning = self.tuning
        if seconds < tuning.window_seconds:
            # Every answer past the limit costs a 429 (and the refused come back to cost
            # more), so load ends a window at once; noise can wait for the window's end.
            return self._suspicious is None and self._load_since_first_429(tally)
        if not tally.answered:
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
        capacity, measured = self._capacity(tally, seconds, accepted)
        self._before = (accepted, seconds)
        suspicious = self._above_noise(
            tally.answered, tally.rate_limited, self.tuning.suspicion_z
        ) or self._load_since_first_429(tally)
        reference = self._suspicious
        if reference is None:
            if suspicious:
                self._pace_before = self.pace
                if measured or not self._limit_measured:
                    self._limit_estimate = capacity
                    self._limit_measured = measured
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

    def _capacity(self, tally: _Tally, seconds: float, accepted: float) -> tuple[float, bool]:
        """The rate the API takes, judged from the window `tally` (which lasted `seconds` and
        in which the API accepted `accepted` requests), and whether it was measured at the
        limit (else it is only a rate the API took, maybe well below what it would)."""
        tuning = self.tuning
        pace = self.pace
        if (
            pace is not None
            and tally.granted >= tuning.paced * pace * seconds
            and tally.answered_since >= tuning.min_noise_answers
        ):
            # The pace held the requests back, so they went at the pace, and from the first 429
            # on the API took what it could: a bucket's allowance, which let the pace exceed the
            # limit unnoticed for a while, was spent by then. (From the pace and the share, not
            # from the answers' times: answers handled in a clump after a stall would make a
            # rate of anything.)
            refused = tally.rate_limited_since / tally.answered_since
            return pace * (1.0 - refused), True
        # Over this window and the one before: a window's 429s may come from a burst in the
        # one before, and its requests may be few because the refused ones are asleep until
        # their `Retry-After`, which says nothing of what the API can take.
        before_accepted, before_seconds = self._before
        return (accepted + before_accepted) / (seconds + before_seconds), False

    def _noise_like(self, high: _Tally, low: _Tally) -> bool:
        """Whether the 429s of `low`, at the lower pace, are as common as those of `high`,
        on enough answers to say so: with too few, the 429s are taken for load (the safe
        side: the pace stays low)."""
        tuning = self.tuning
        high_counts = high.counts_since_first_429(tuning.min_noise_answers)
        low_counts = (low.answered, low.rate_limited)
        return self._evidence(low) and not _fell(high_counts, low_counts, tuning.fall_z)

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
        until = self.tuning.slow_until if self._limit_measured else self.tuning.slow_until_bound
        near = near and self.pace <= self._limit_estimate * until
        self.pace *= 1.0 + (self.tuning.climb if near else self.tuning.fast_climb)
        if self.pace >= ceiling:
            self.pace = None

    def _above_noise(self, answered: int, rate_limited: int, z: float) -> bool:
        """Whether `rate_limited` 429s of `answered` answers are more than `z` standard
        deviations (plus `suspicion_slack`) above the noise floor."""
        noise = self.noise_share
        expected = answered * noise
        spread = math.sqrt(expected * (1.0 - noise))
        return rate_limited > expected + z * spread + self.tuning.suspicion_slack

    def _load_since_first_429(self, tally: _Tally) -> bool:
        """Whether, while a pace holds the requests back, the 429s since the window's first
        are far above the noise floor: the API's allowance has run out.

        Tested at every answer, so with `load_z` (stricter than `suspicion_z`): noise must
        not end windows early much more often than it makes them suspicious at their end.
        """
        tuning = self.tuning
        return (
            self.pace is not None
            and tally.answered_since >= tuning.min_noise_answers
            and self._above_noise(tally.answered_since, tally.rate_limited_since, tuning.load_z)
        )

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


def _fell(high: tuple[int, int], low: tuple[int, int], z: float) -> bool:
    """Whether the share of 429s in `low` is significantly below that in `high`, each given as
    (answers, 429s) (one-sided two-proportion z-test)."""
    high_answered, high_rate_limited = high
    low_answered, low_rate_limited = low
    pooled = (high_rate_limited + low_rate_limited) / (high_answered + low_answered)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / high_answered + 1.0 / low_answered))
    if spread == 0.0:
        return False
    return (high_rate_limited / high_answered - low_rate_limited / low_answered) / spread >= z
