"""The load controller on simulated time: random 429s do not talk the pace down, 429s caused by
load bring it below the limit, and the ceiling is never the controller's to raise."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simops.supersim.load_control import LoadControl


@dataclass
class SimulatedAccount:
    """An API account answering one request at a time: 429 at random with probability
    `noise`, and above `limit` requests/s (a token bucket holding one second, as the
    emulator's `--rate`)."""

    noise: float = 0.0
    limit: float | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    tokens: float = 0.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.limit or 0.0

    def answer(self, now: float) -> bool:
        """Whether the request sent at `now` is answered 429."""
        if self.limit is not None:
            self.tokens = min(self.limit, self.tokens + (now - self.stamp) * self.limit)
            self.stamp = now
            if self.tokens < 1.0:
                return True
            self.tokens -= 1.0
        return self.rng.random() < self.noise


@dataclass
class Run:
    """What a simulated run sent, second by second."""

    sent: list[int]
    rate_limited: list[int]
    paces: list[float]


CLIENT_RPS = 1000.0
"""The fastest the simulated client sends (its concurrency over the API's latency)."""


def run(
    control: LoadControl,
    account: SimulatedAccount,
    ceiling: float,
    seconds: int,
    *,
    since: float = 0.0,
) -> Run:
    """Send as fast as the pace allows (at most `ceiling`, at most `CLIENT_RPS`) from `since`
    for `seconds`; each request is answered at once."""
    now = since
    sent = [0] * seconds
    rate_limited = [0] * seconds
    paces: list[float] = []
    while now < since + seconds:
        pace = min(ceiling, control.pace or ceiling, CLIENT_RPS)
        paces.append(pace)
        window = control.granted(now)
        limited = account.answer(now)
        second = int(now - since)
        sent[second] += 1
        rate_limited[second] += limited
        control.answered(window, rate_limited=limited, now=now, ceiling=ceiling)
        now += 1.0 / pace
    return Run(sent, rate_limited, paces)


def test_random_429s_do_not_talk_the_pace_down() -> None:
    control = LoadControl()
    result = run(control, SimulatedAccount(noise=0.05), ceiling=200.0, seconds=120)
    # Nearly all the time at the ceiling: a suspicion costs one window at a lower pace.
    assert sum(result.sent) >= 0.95 * 200 * 120
    assert min(result.paces) >= 0.8 * 200
    assert 0.03 <= control.noise_share <= 0.07


def test_429s_caused_by_load_bring_the_pace_below_the_limit() -> None:
    control = LoadControl()
    result = run(control, SimulatedAccount(limit=200.0), ceiling=1e9, seconds=120)
    settled = slice(10, None)
    sent = sum(result.sent[settled])
    limited = sum(result.rate_limited[settled])
    seconds = len(result.sent[settled])
    assert sent - limited >= 0.9 * 200 * seconds
    assert limited <= 0.02 * sent
    assert control.noise_share < 0.01


def test_load_above_noise_is_still_load() -> None:
    control = LoadControl()
    result = run(control, SimulatedAccount(noise=0.05, limit=200.0), ceiling=1e9, seconds=120)
    settled = slice(10, None)
    sent = sum(result.sent[settled])
    # Sent at most 10 % above the limit; 429s at most the noise and that 10 % over.
    assert sent <= 1.1 * 200 * len(result.sent[settled])
    assert sum(result.rate_limited[settled]) <= 0.15 * sent


def test_an_api_refusing_nearly_everything_is_never_noise() -> None:
    control = LoadControl()
    run(control, SimulatedAccount(noise=0.9), ceiling=200.0, seconds=30)
    assert control.pace is not None and control.pace < 10.0
    assert control.noise_share == 0.0


def test_the_pace_climbs_back_once_the_load_is_gone() -> None:
    control = LoadControl()
    run(control, SimulatedAccount(limit=20.0), ceiling=200.0, seconds=20)
    assert control.pace is not None and control.pace < 30.0
    # The limit lifted: 2 % a window near the rate that drew the 429s, faster past it.
    run(control, SimulatedAccount(), ceiling=200.0, seconds=60, since=20.0)
    assert control.pace is None


def test_a_pace_climbed_to_the_ceiling_stops_restricting() -> None:
    control = LoadControl()
    run(control, SimulatedAccount(limit=50.0), ceiling=1e9, seconds=20)
    assert control.pace is not None
    # A ceiling below the pace (the account's share shrank): the pace is no restriction.
    run(control, SimulatedAccount(), ceiling=control.pace / 2, seconds=5, since=20.0)
    assert control.pace is None


def answer_window(
    control: LoadControl, start: float, outcomes: list[bool], *, seconds: float = 1.0
) -> None:
    """Grant one request per outcome, evenly over `seconds` from `start`, each answered at
    once (`True`: 429), then one more answer past the window's end to close it."""
    step = seconds / len(outcomes)
    for index, rate_limited in enumerate(outcomes):
        now = start + index * step
        window = control.granted(now)
        control.answered(window, rate_limited=rate_limited, now=now, ceiling=1e9)
    closing = control.granted(start + seconds)
    control.answered(closing, rate_limited=False, now=start + seconds, ceiling=1e9)


def test_a_check_still_above_the_limit_is_not_taken_for_noise() -> None:
    control = LoadControl()
    # A bucket lets 150 requests through, then the API refuses 40 % of what comes: over the
    # whole window 16 % were refused, 40 % since the allowance ran out.
    answer_window(control, 0.0, [False] * 150 + [True, False, False] * 33 + [True])
    suspected = control.pace
    assert suspected is not None
    # Lower, but still above the limit: 13 % refused. As common as over the whole window
    # before, far rarer than since its first 429: load, and the pace must not go back up.
    answer_window(control, 1.0, ([True] + [False] * 7) * 23 + [False] * 6)
    assert control.pace is not None and control.pace <= suspected
    assert control.noise_share == 0.0


def test_the_pace_drops_below_what_the_api_took_after_its_first_429() -> None:
    control = LoadControl()
    answer_window(control, 0.0, [False] * 150 + [True] * 50)
    answer_window(control, 1.0, [False] * 100)
    paced = control.pace
    assert paced is not None
    # Held back by the pace, the API took every request until its allowance ran out halfway
    # through, then one in two: it takes half the pace, not the three quarters the window as a
    # whole got through.
    sent = int(paced)
    answer_window(control, 2.0, [False] * (sent // 2) + [True, False] * (sent // 4))
    assert control.pace is not None and control.pace <= 0.9 * 0.55 * paced
