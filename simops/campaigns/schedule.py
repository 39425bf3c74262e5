"""When a campaign may give SIMs their first write: a start, an end, and weekly maintenance
windows in a time zone (`--start-at`, `--end-at`, `--window`, `--timezone`).

Pure: no I/O and no clock. Every question takes the instant it is asked about (`now`), because
the campaign workflow asks it inside Temporal's sandbox with `workflow.now()`, and a replay must
get the same answers. Instants go in aware, in any offset, and come out in UTC.

A window is wall-clock time in the schedule's zone. One opening of a window runs from the first
instant the zone's clocks show its start on a listed day to the first instant they show its end
(the next day's, when it crosses midnight). Across daylight saving time that reads as:
- clocks going forward skip an hour: a window boundary inside the skipped hour is the jump itself
  (`01:00-02:30` on Europe/Berlin's March change closes at 03:00 CEST, when the clocks leave
  the window; `02:00-02:30` that night does not open at all, as no clock shows it);
- clocks going back repeat an hour: a boundary inside it is its first occurrence, and the repeat
  does not open the window again (`01:00-02:30` on the October change closes at 02:30 CEST).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, Field, PrivateAttr, ValidationInfo, field_validator

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Day names as windows spell them (any case), Monday first as `date.weekday()` counts."""
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
WINDOW_FORM = (
    "a window is '[DAYS ]HH:MM-HH:MM', e.g. 'Mon-Fri 01:00-05:00', 'Sat,Sun 00:00-24:00' "
    "or '22:00-02:00' (every day, until 02:00 the next day)"
)
HORIZON_DAYS = 22
"""Days of openings looked at ahead of an instant. A gap between openings recurs every week,
except one that only falls in the hour the clocks skip in spring: openings then merge over at
most two weeks, and three weeks of them always show the next change."""

_TIME_RANGE = re.compile(r"(?:^|\s)(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


class ScheduleError(ValueError):
    """A window, a time zone or a schedule that cannot be: the message says what is wrong and,
    for a window, the form it takes."""


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly window: it opens on each of `days` (0 is Monday) at `opens`, and closes at
    `closes` (minutes after midnight, wall clock); a `closes` not after `opens` is on the next
    day."""

    days: frozenset[int]
    opens: int
    closes: int

    @property
    def crosses_midnight(self) -> bool:
        """Whether it closes the day after it opens."""
        return self.closes <= self.opens

    @property
    def minutes(self) -> int:
        """How long it lasts on the wall clock."""
        return self.closes - self.opens + (MINUTES_PER_DAY if self.crosses_midnight else 0)

    def __str__(self) -> str:
        """The window as `--window` takes it, days in ranges: `Mon-Fri 01:00-05:00`."""
        times = f"{_clock(self.opens)}-{_clock(self.closes)}"
        return times if len(self.days) == len(DAYS) else f"{_day_ranges(self.days)} {times}"


def parse_window(text: str) -> MaintenanceWindow:
    """The window `text` describes (`[DAYS ]HH:MM-HH:MM`), or a `ScheduleError` saying what is
    wrong with it.

    DAYS is a day (`Mon`), a range (`Mon-Fri`; `Fri-Mon` wraps the week) or a comma-separated
    list of both (`Mon,Wed-Fri`); none means every day. The days are those a window opens on:
    `Fri 22:00-02:00` runs from Friday 22:00 to Saturday 02:00. `24:00` may end a window.
    """
    match = _TIME_RANGE.search(text)
    if match is None:
        raise _window_error(text, "no time range HH:MM-HH:MM at its end")
    opens = _minute_of_day(text, match.group(1), may_be_midnight=False)
    closes = _minute_of_day(text, match.group(2), may_be_midnight=True)
    if opens == closes:
        raise _window_error(
            text, f"it opens and closes at {match.group(1)} (00:00-24:00 is the whole day)"
        )
    day_text = text[: match.start()].strip()
    days = _parse_days(text, day_text) if day_text else frozenset(range(len(DAYS)))
    return MaintenanceWindow(days=days, opens=opens, closes=closes)


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Berlin`, `UTC`), or a `ScheduleError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: a name that is no key at all (an absolute path); OSError: a directory of
        # the database (`Europe`).
        raise ScheduleError(
            f"{name!r} is not an IANA time zone; give one such as Europe/Berlin, "
            "America/New_York or UTC"
        ) from None


class CampaignSchedule(BaseModel):
    """When a campaign may give SIMs their first write: from `start_at`, before `end_at`, and
    inside one of `windows` (wall-clock times in `timezone`; none: at any time).

    `windows` are kept as `--window` writes them, normalized (`mon,tue 1:00-5:00` is
    `Mon-Tue 01:00-05:00`), so that two starts of one campaign compare equal.
    """

    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    windows: list[str] = Field(default_factory=list)
    timezone: str = "UTC"

    _parsed: tuple[MaintenanceWindow, ...] = PrivateAttr()
    _zone: ZoneInfo = PrivateAttr()
    _always_inside: bool = PrivateAttr()

    @field_validator("start_at", "end_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @field_validator("end_at")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start_at")
        if value is not None and start is not None and value <= start:
            raise ScheduleError(f"{_utc_text(value)} is not after the start, {_utc_text(start)}")
        return value

    @field_validator("windows")
    @classmethod
    def _normalized(cls, value: list[str]) -> list[str]:
        return [str(parse_window(text)) for text in value]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        time_zone(value)
        return value

    def model_post_init(self, context: object, /) -> None:
        """Parse the windows and the zone once, for the many questions a workflow asks."""
        self._parsed = tuple(parse_window(text) for text in self.windows)
        self._zone = time_zone(self.timezone)
        self._always_inside = _cover_the_week(self._parsed)

    @property
    def zone(self) -> ZoneInfo:
        """The time zone of the windows."""
        return self._zone

    def ended(self, now: datetime) -> bool:
        """Whether the end time has come: no first write may happen from now on."""
        return self.end_at is not None and _utc(now) >= self.end_at

    def is_open(self, now: datetime) -> bool:
        """Whether first writes may happen at `now`: at or after `start_at`, before `end_at`,
        and inside a window (or no windows)."""
        now = _utc(now)
        # Only openings of the local day before (crossing midnight) and of today can hold now.
        spans = self._spans(now, days_ahead=0)
        return bool(spans) and spans[0][0] <= now

    def next_open_at(self, now: datetime) -> datetime | None:
        """When first writes may next happen, in UTC: `now` if they may now; `None` if never
        again (the end passed, or no window opens before it)."""
        spans = self._spans(_utc(now), HORIZON_DAYS)
        return spans[0][0] if spans else None

    def next_change_at(self, now: datetime) -> datetime | None:
        """The first instant after `now` at which `is_open` changes or the end arrives, in UTC
        (what a workflow's timer sleeps until); `None` if nothing changes ever again."""
        now = _utc(now)
        spans = self._spans(now, HORIZON_DAYS)
        if not spans:
            return self.end_at if self.end_at is not None and self.end_at > now else None
        opens, closes = spans[0]
        return closes if opens <= now else opens

    def _spans(self, since: datetime, days_ahead: int) -> list[tuple[datetime, datetime | None]]:
        """The times first writes may happen from `since` on, in order, merged where they
        touch, none starting before `since`: (from, until), `None` for never closing.

        Openings are taken from the local day before `since` (or `start_at`, when later) to
        `days_ahead` days after it."""
        anchor = since if self.start_at is None else max(since, self.start_at)
        openings: Sequence[tuple[datetime, datetime | None]]
        if self._always_inside:
            openings = [(anchor, None)]
        else:
            first_day = anchor.astimezone(self._zone).date() - timedelta(days=1)
            openings = _merged(self._openings(first_day, first_day + timedelta(days_ahead + 1)))
        spans: list[tuple[datetime, datetime | None]] = []
        for opens, closes in openings:
            until = closes
            if self.end_at is not None:
                until = self.end_at if closes is None else min(closes, self.end_at)
            start = max(opens, anchor)
            if until is None or start < until:
                spans.append((start, until))
        return spans

    def _openings(self, first_day: date, last_day: date) -> list[tuple[datetime, datetime]]:
        """Every opening of every window on the local days from `first_day` to `last_day`,
        sorted, as UTC instants; those the clocks skip entirely are left out."""
        openings = []
        day = first_day
        while day <= last_day:
            for window in self._parsed:
                if day.weekday() in window.days:
                    opens = _first_shown(day, window.opens, self._zone)
                    closes = _first_shown(day, window.opens + window.minutes, self._zone)
                    if opens < closes:
                        openings.append((opens, closes))
            day += timedelta(days=1)
        return sorted(openings)


def next_window_at(schedule: CampaignSchedule | None, now: datetime) -> datetime | None:
    """What `status`, `campaign list` and the dashboard show of a campaign waiting for its
    schedule: when its next window opens (UTC); `None` when it may write now, has no schedule,
    or will never write again."""
    if schedule is None or schedule.is_open(now):
        return None
    return schedule.next_open_at(now)


def describe_schedule(schedule: CampaignSchedule, now: datetime) -> list[str]:
    """Lines that tell a person a schedule: zone, windows, start, end, and when first writes
    may next happen, in UTC and in the zone's local time."""
    zone = schedule.zone
    windows = ", ".join(schedule.windows) if schedule.windows else "none (at any time)"
    lines = [f"schedule: time zone {schedule.timezone}; windows: {windows}"]
    if schedule.start_at is not None:
        lines.append(f"  start: {_both_clocks(schedule.start_at, zone)}")
    if schedule.end_at is not None:
        lines.append(f"  end: {_both_clocks(schedule.end_at, zone)}")
    opening = schedule.next_open_at(now)
    if schedule.ended(now):
        lines.append("  next opening: never (the end has passed)")
    elif opening is None:
        lines.append("  next opening: never (no window opens before the end)")
    elif schedule.is_open(now):
        lines.append("  next opening: now (inside the schedule)")
    else:
        lines.append(f"  next opening: {_both_clocks(opening, zone)}")
    return lines


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"a schedule is asked about aware instants, not {now.isoformat()}")
    return now.astimezone(UTC)


def _first_shown(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clocks of `zone` show `minute` after the midnight
    starting `day` (24:00 is the next midnight), or a later time if they skip it."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    # fold=0: of a time the clocks show twice, the first.
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if _shown(instant, zone) == wall:
        return instant
    # Skipped by the clocks going forward: read with the offset after the jump it is an instant
    # before the jump, with the offset before it one after; the jump lies between, at a whole
    # second (tzdata's transitions are).
    earlier = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    while (instant - earlier) > timedelta(seconds=1):
        middle = earlier + timedelta(seconds=(instant - earlier).total_seconds() // 2)
        if _shown(middle, zone) >= wall:
            instant = middle
        else:
            earlier = middle
    return instant


def _shown(instant: datetime, zone: ZoneInfo) -> datetime:
    """What the clocks of `zone` show at `instant`, as a naive time."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _merged(openings: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted openings with those that overlap or touch joined into one."""
    merged: list[tuple[datetime, datetime]] = []
    for opens, closes in openings:
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(closes, merged[-1][1]))
        else:
            merged.append((opens, closes))
    return merged


def _cover_the_week(windows: tuple[MaintenanceWindow, ...]) -> bool:
    """Whether the windows hold every minute of the week on the wall clock (or there are none):
    then first writes are never held by a window, and no opening has an end to look for."""
    if not windows:
        return True
    covered = bytearray(MINUTES_PER_WEEK)
    for window in windows:
        for day in window.days:
            start = day * MINUTES_PER_DAY + window.opens
            for minute in range(start, start + window.minutes):
                covered[minute % MINUTES_PER_WEEK] = 1
    return all(covered)


def _minute_of_day(text: str, clock: str, *, may_be_midnight: bool) -> int:
    hours, minutes = (int(part) for part in clock.split(":"))
    if hours == 24 and minutes == 0:
        if may_be_midnight:
            return MINUTES_PER_DAY
        raise _window_error(text, "24:00 only ends a window (00:00 starts one)")
    if hours > 23 or minutes > 59:
        raise _window_error(text, f"{clock!r} is not a time of day (00:00 to 23:59, or 24:00)")
    return hours * 60 + minutes


def _parse_days(text: str, day_text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in day_text.split(","):
        ends = [_day_number(text, part.strip()) for part in item.split("-")]
        if len(ends) > 2:
            raise _window_error(text, f"{item.strip()!r} is not a day or a range of days")
        first, last = ends[0], ends[-1]
        # A range wraps the week: Fri-Mon is Fri, Sat, Sun, Mon.
        days.update((first + offset) % len(DAYS) for offset in range((last - first) % 7 + 1))
    return frozenset(days)


def _day_number(text: str, name: str) -> int:
    for number, day in enumerate(DAYS):
        if name.casefold() == day.casefold():
            return number
    shown = f"{name!r} is not a day" if name else "a day is missing"
    raise _window_error(text, f"{shown} ({', '.join(DAYS)})")


def _window_error(text: str, problem: str) -> ScheduleError:
    return ScheduleError(f"{text!r}: {problem}; {WINDOW_FORM}")


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day_ranges(days: frozenset[int]) -> str:
    """Days as the shortest list of ranges, a range wrapping the week when it does
    (`{4, 5, 6, 0}` is `Fri-Mon`)."""
    starts = sorted(day for day in days if (day - 1) % len(DAYS) not in days)
    parts = []
    for start in starts:
        end = start
        while (end + 1) % len(DAYS) in days:
            end = (end + 1) % len(DAYS)
        parts.append(DAYS[start] if end == start else f"{DAYS[start]}-{DAYS[end]}")
    return ",".join(parts)


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _both_clocks(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    return f"{_utc_text(instant)} ({local.strftime('%a %Y-%m-%d %H:%M:%S %Z')}, {zone.key})"
