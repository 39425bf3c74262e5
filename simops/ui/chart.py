"""The throughput-over-time chart of a campaign page, laid out here and drawn as SVG by its
template: SIMs ended per second in each interval, against the campaign's `--rate`.

A pure function of the store's buckets, so that the page needs no chart library and no script.
Times are UTC, as everywhere on the dashboard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simops.campaigns.store.campaign_store import ThroughputBucket

WIDTH = 640
HEIGHT = 220
LEFT = 56
"""Room for the y axis' labels."""
BOTTOM = 24
TOP = 12
RIGHT = 12
MOST_BUCKETS = 60
"""Intervals on the x axis at most: the interval grows with the campaign's duration."""


@dataclass(frozen=True)
class Tick:
    """One label of an axis, where it stands (in SVG units)."""

    at: float
    label: str


@dataclass(frozen=True)
class ThroughputChart:
    """Everything the SVG template draws, in SVG units."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    points: str
    """The polyline of SIMs/s per interval: `x,y x,y …`."""
    peak: float
    """The highest SIMs/s of one interval."""
    rate: float | None
    rate_y: float | None
    bucket_seconds: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def bucket_seconds(started_at: datetime, until: datetime) -> int:
    """The interval for a campaign that ran from `started_at` to `until`: one second, or
    longer so that the chart has at most `MOST_BUCKETS` points."""
    return max(1, math.ceil((until - started_at).total_seconds() / MOST_BUCKETS))


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1.0, 2.0, 2.5, 5.0, 10.0) if step * power >= value)


def throughput_chart(
    buckets: Sequence[ThroughputBucket],
    started_at: datetime,
    until: datetime,
    interval: int,
    rate: float | None,
) -> ThroughputChart:
    """The chart of `buckets` (SIMs ended per `interval` seconds) from `started_at` to
    `until`; intervals without a bucket count zero. `rate` draws the campaign's `--rate`."""
    first = started_at.timestamp() // interval * interval
    last = max(until.timestamp() // interval * interval, first)
    slots = int((last - first) // interval) + 1
    per_second = [0.0] * slots
    for bucket in buckets:
        slot = int((bucket.start.timestamp() - first) // interval)
        if 0 <= slot < slots:
            per_second[slot] = bucket.sims / interval
    peak = max(per_second, default=0.0)
    top_value = _nice_ceiling(max(peak, rate or 0.0) * 1.05)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM

    def x(slot: float) -> float:
        return LEFT + plot_width * (slot / max(slots - 1, 1))

    def y(value: float) -> float:
        return TOP + plot_height * (1 - value / top_value)

    points = " ".join(f"{x(slot):.1f},{y(value):.1f}" for slot, value in enumerate(per_second))
    start = datetime.fromtimestamp(first, started_at.tzinfo)
    x_ticks = [
        Tick(
            x(slot),
            (start + timedelta(seconds=slot * interval)).astimezone(UTC).strftime("%H:%M:%S"),
        )
        for slot in sorted({0, (slots - 1) // 2, slots - 1})
    ]
    y_ticks = [Tick(y(top_value * share), f"{top_value * share:,.4g}") for share in (0, 0.5, 1)]
    return ThroughputChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
        points=points,
        peak=peak,
        rate=rate,
        rate_y=y(rate) if rate is not None else None,
        bucket_seconds=interval,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
    )
