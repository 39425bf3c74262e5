"""The load controller on simulated time: random 429s do not talk the pace down, 429s caused by
load bring it below the limit, and the ceiling is never the controller's to raise."""

from __future__ import annotations

import random
from collections.abc import Callable
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


def window(
    control: LoadControl,
    start: float,
    *,
    requests: int,
    seconds: float,
    limited: Callable[[int], bool],
) -> tuple[float, int]:
    """Grant `requests` evenly over `seconds` from `start`, each answered at once (429 when
    `limited(i)`), until the window ends; when the last one went and the 429s sent."""
    current = control.window
    now = start
    sent_429s = 0
    for i in range(requests):
        now = start + i * seconds / (requests - 1)
        granted_in = control.granted(now)
        sent_429s += limited(i)
        control.answered(granted_in, rate_limited=limited(i), now=now, ceiling=1e9)
        if control.window != current:
            break
    return now, sent_429s


def test_random_429s_do_not_talk_the_pace_down() -> None:
    control = LoadControl()
    result = run(control, SimulatedAccount(noise=0.05), ceiling=200.0, seconds=120)
    # Nearly all the time at the ceiling. Before the floor is known, the first 429s cut a
    # window short, which tells nothing of noise, so two windows are checked at lower paces;
    # after that a suspicion costs a few windows at most a fifth lower.
    assert sum(result.sent) >= 0.95 * 200 * 120
    assert min(result.paces) >= 0.6 * 200
    assert min(result.paces[len(result.paces) // 10 :]) >= 0.8 * 200
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


def test_a_limit_met_mid_window_costs_a_few_429s_not_the_rest_of_the_window() -> None:
    control = LoadControl()
    result = run(control, SimulatedAccount(limit=200.0), ceiling=1e9, seconds=5)
    # At 1,000 requests/s the bucket is dry after a quarter of the first second: judged only
    # at the second's end, the rest of it would be 600 429s.
    assert sum(result.rate_limited) <= 50


def test_a_share_that_rises_at_the_lower_pace_is_load_not_noise() -> None:
    control = LoadControl()
    # A whole second whose last requests found the bucket just emptied.
    end, _ = window(control, 0.0, requests=201, seconds=1.0, limited=lambda i: i >= 198)
    lowered = control.pace
    assert lowered is not None
    # Still above the limit at the lower pace: the bucket stays dry, a quarter is refused.
    window(control, end, requests=200, seconds=1.0, limited=lambda i: i % 4 == 0)
    assert control.pace is not None and control.pace < lowered
    assert control.noise_share == 0.0


def test_a_window_cut_short_by_its_first_429s_is_no_evidence_of_noise() -> None:
    control = LoadControl()
    # The limit met a fifth of a second into the window: its share is that of requests
    # mostly sent before the bucket ran dry.
    end, _ = window(control, 0.0, requests=40, seconds=0.2, limited=lambda i: i >= 37)
    assert control.window == 1
    # The same share at the lower pace proves nothing: the pace drops again.
    window(control, end, requests=201, seconds=1.0, limited=lambda i: i % 40 >= 37)
    assert control.backoffs == 2
    assert control.pace is not None
    assert control.noise_share == 0.0


def test_after_a_share_that_rose_the_next_window_ends_at_its_first_429s() -> None:
    control = LoadControl()
    end, _ = window(control, 0.0, requests=201, seconds=1.0, limited=lambda i: i >= 198)
    end, _ = window(control, end, requests=200, seconds=1.0, limited=lambda i: i % 4 == 0)
    # Lower again, still above the limit: fewer 429s than in the window that rose, but load
    # already proved, so no check window of a second spends more of them.
    _, sent_429s = window(control, end, requests=200, seconds=1.0, limited=lambda i: i % 7 == 0)
    assert sent_429s == 3


def test_a_window_without_a_duration_is_not_judged() -> None:
    control = LoadControl()
    # Answers stamped with the instant of the first grant (a coarse clock) give no rate yet.
    for _ in range(5):
        control.answered(control.granted(0.0), rate_limited=True, now=0.0, ceiling=1e9)
    assert control.window == 0
    assert control.pace is None
