"""How many requests per second a budget may send now: a rate that noise does not talk down.

An API answers 429 for two reasons that look the same (both may carry `Retry-After`): the account
sent more than its limit (load), or the API refused a request for a reason of its own (noise: a
fraction of requests refused whatever the rate). Only the first is cured by sending less, and
the two differ in one way a client can observe: load-caused 429s rise with the sending rate,
noise does not. `RateController` asks exactly that question, by gain cycling as BBR probes a
link:

- time is cut into phases of `phase_seconds`, aligned on the clock (so every budget of a process,
  and of every process on the host, probes in step: the API sees their sum rise and fall
  together);
- while no 429 comes back the budget sends at its level and the level climbs slowly
  (`climb_per_second`, multiplicative) up to the maximum;
- once a cycle (two phases) saw a 429, the next cycle probes: its first phase sends at
  `low_gain` times what was sent (below the level), its second at `high_gain` times the level
  (at most the maximum); the answers to each phase's requests are counted apart;
- at the end of a probing cycle the 429 fraction of the high phase is compared with the low
  phase's: only when it is higher by more than `significance` standard errors (a two-proportion
  test) are the 429s load, and the level is cut to `1 - margin` of the successes per second
  of the cycle (what the API let through: at a token bucket, its rate) if that is lower; else
  they are noise and the level climbs as if there had been none.

Noise of any fraction therefore costs the gap between the phases and a false cut now and then
(at `significance` 3, about one cycle in 700), not a cap that every 429 halves; a real limit is
found within a cycle of its 429s and then met from below.
"""

from __future__ import annotations

import math
from collections import deque


class RateController:
    """An adapted requests-per-second level below a maximum (see the module doc).

    The budget calls `advance` when the clock passes `phase_end`, `sent` for each request it
    grants (tagged with `phase`), and `answered` for each answer. Not thread-safe: one event
    loop's budget.
    """

    __slots__ = (
        "_climb",
        "_cycle",
        "_evidence",
        "_high_gain",
        "_index",
        "_limited",
        "_low_gain",
        "_margin",
        "_ok",
        "_phase_seconds",
        "_previous_rate",
        "_probing",
        "_sent",
        "_significance",
        "decreases",
        "level",
        "max_rps",
        "phase",
        "phase_end",
        "rate",
    )

    def __init__(
        self,
        max_rps: float,
        *,
        phase_seconds: float = 0.5,
        low_gain: float = 0.75,
        high_gain: float = 1.25,
        significance: float = 3.0,
        margin: float = 0.05,
        climb_per_second: float = 0.005,
        window_cycles: int = 4,
    ) -> None:
        self.max_rps = max_rps
        self.level = max_rps
        """The rate sent at outside probing cycles."""
        self.rate = max_rps
        """The rate of the current phase."""
        self.decreases = 0
        self._phase_seconds = phase_seconds
        self._low_gain = low_gain
        self._high_gain = high_gain
        self._significance = significance
        self._margin = margin
        self._climb = (1.0 + climb_per_second) ** (2 * phase_seconds)
        self.phase = -2
        """The index of the current phase (the tag of the requests granted in it)."""
        self.phase_end = -math.inf
        self._cycle = -1
        self._probing = False
        self._previous_rate = 0.0
        # Per phase of the current cycle (0: the first, low when probing; 1: the second).
        self._sent = [0, 0]
        self._ok = [0, 0]
        self._limited = [0, 0]
        # The counts of the last probing cycles, (ok low, ok high, 429 low, 429 high): one
        # cycle's answers are few at a low rate, and a limit reached from far above shows a
        # small rise per cycle (both phases are over it), so the test weighs several.
        self._evidence: deque[tuple[int, int, int, int]] = deque(maxlen=window_cycles)

    @property
    def probing(self) -> bool:
        """Whether the current cycle probes (a 429 came back in the last one)."""
        return self._probing

    def resize(self, max_rps: float) -> None:
        """A new maximum; the level keeps its ratio to it (a cut budget stays as cautious)."""
        self.level = min(max_rps, max(self._floor(max_rps), self.level * max_rps / self.max_rps))
        self.max_rps = max_rps
        self.rate = self._rate_of(self.phase)

    def sent(self) -> None:
        """One request granted in the current phase."""
        self._sent[self.phase & 1] += 1

    def answered(self, phase: int, limited: bool) -> None:
        """The answer to a request granted in `phase`: a 429 (`limited`) or anything else."""
        if phase >> 1 != self._cycle:
            return  # an answer to a cycle already judged
        if limited:
            self._limited[phase & 1] += 1
        else:
            self._ok[phase & 1] += 1

    def advance(self, now: float) -> bool:
        """Enter the phase `now` falls in; whether the rate changed."""
        index = math.floor(now / self._phase_seconds)
        if index <= self.phase:
            return False
        if index == self.phase + 1:
            self._end_phase()
        else:
            # Idle for a phase or more: the counts describe a past that no longer holds.
            self._evidence.clear()
            self._start_cycle(index >> 1, probing=self._probing, previous_rate=self.level)
        self.phase = index
        self.phase_end = (index + 1) * self._phase_seconds
        rate = self._rate_of(index)
        changed = rate != self.rate
        self.rate = rate
        return changed

    def _end_phase(self) -> None:
        ended = self.phase & 1
        if ended == 0:
            return
        if self._probing:
            self._judge()
        else:
            # A cycle without a 429: the evidence of earlier ones describes another load.
            self._evidence.clear()
            self._climb_up()
        previous_rate = self._sent[1] / self._phase_seconds
        self._start_cycle(
            self._cycle + 1,
            probing=self._limited[0] + self._limited[1] > 0,
            previous_rate=previous_rate,
        )

    def _start_cycle(self, cycle: int, *, probing: bool, previous_rate: float) -> None:
        self._cycle = cycle
        self._probing = probing
        self._previous_rate = previous_rate
        self._sent = [0, 0]
        self._ok = [0, 0]
        self._limited = [0, 0]

    def _rate_of(self, index: int) -> float:
        if not self._probing:
            return self.level
        if index & 1 == 0:
            # Below what was sent, not only below the level: a budget that sends less than its
            # level must still send less in the low phase, or the comparison means nothing.
            sent = min(self.level, max(self._previous_rate, self._floor(self.max_rps)))
            return max(self._floor(self.max_rps), self._low_gain * sent)
        return min(self.max_rps, self._high_gain * self.level)

    def _judge(self) -> None:
        if self._sent[1] > self._sent[0]:
            self._evidence.append((self._ok[0], self._ok[1], self._limited[0], self._limited[1]))
        ok_low = limited_low = ok_high = limited_high = 0
        for cycle in self._evidence:
            ok_low += cycle[0]
            ok_high += cycle[1]
            limited_low += cycle[2]
            limited_high += cycle[3]
        low, high = ok_low + limited_low, ok_high + limited_high
        if low == 0 or high == 0:
            self._climb_up()
            return
        pooled = (limited_low + limited_high) / (low + high)
        error = math.sqrt(pooled * (1.0 - pooled) * (1.0 / low + 1.0 / high))
        rise = limited_high / high - limited_low / low
        if rise > self._significance * error and rise > 0.0:
            # What the API let through in the last cycle: at a token bucket, about its rate
            # (the tokens the low phase saved, the high phase spends).
            let_through = (self._ok[0] + self._ok[1]) / (2 * self._phase_seconds)
            self.level = max(
                self._floor(self.max_rps), (1.0 - self._margin) * min(self.level, let_through)
            )
            self.decreases += 1
            self._evidence.clear()
        else:
            self._climb_up()

    def _climb_up(self) -> None:
        self.level = min(self.max_rps, self.level * self._climb)

    @staticmethod
    def _floor(max_rps: float) -> float:
        # One request a second at least: below that a phase holds too few answers to judge.
        return min(max_rps, 1.0)
