"""Campaign schedules: windows as `--window` writes them, and when first writes may happen,
across Europe/Berlin's daylight saving changes (2026-03-29 02:00 CET → 03:00 CEST, and
2026-10-25 03:00 CEST → 02:00 CET), checked against a minute-by-minute walk."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from simops.campaigns.schedule import (
    WINDOW_FORM,
    CampaignSchedule,
    ScheduleError,
    describe_schedule,
    next_window_at,
    parse_window,
)
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec

BERLIN = "Europe/Berlin"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
EVERY_DAY = frozenset(range(7))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(opens: float, closes: float) -> tuple[int, int]:
    return int(opens * 60), int(closes * 60)


@pytest.mark.parametrize(
    ("text", "days", "times", "written"),
    [
        ("Mon-Fri 01:00-05:00", {MON, TUE, WED, THU, FRI}, hours(1, 5), "Mon-Fri 01:00-05:00"),
        ("01:00-05:00", EVERY_DAY, hours(1, 5), "01:00-05:00"),
        ("Sat,Sun 00:00-24:00", {SAT, SUN}, hours(0, 24), "Sat-Sun 00:00-24:00"),
        ("Fri-Mon 22:00-02:00", {FRI, SAT, SUN, MON}, hours(22, 2), "Fri-Mon 22:00-02:00"),
        ("22:00-02:00", EVERY_DAY, hours(22, 2), "22:00-02:00"),
        (
            "mon, WED - fri 1:30 - 5:00",
            {MON, WED, THU, FRI},
            hours(1.5, 5),
            "Mon,Wed-Fri 01:30-05:00",
        ),
        ("Sun 23:59-00:00", {SUN}, (23 * 60 + 59, 0), "Sun 23:59-00:00"),
        ("Tue-Mon 00:00-24:00", EVERY_DAY, hours(0, 24), "00:00-24:00"),
        ("Mon,Mon 01:00-02:00", {MON}, hours(1, 2), "Mon 01:00-02:00"),
        ("Sat,Mon 01:00-02:00", {MON, SAT}, hours(1, 2), "Mon,Sat 01:00-02:00"),
        ("Sun,Mon,Wed 01:00-02:00", {SUN, MON, WED}, hours(1, 2), "Wed,Sun-Mon 01:00-02:00"),
    ],
)
def test_a_window_reads_days_ranges_lists_and_times(
    text: str, days: set[int], times: tuple[int, int], written: str
) -> None:
    window = parse_window(text)

    assert (set(window.days), (window.opens, window.closes)) == (days, times)
    assert str(window) == written
    assert parse_window(written) == window


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no time range HH:MM-HH:MM at its end"),
        ("Mon-Fri", "no time range HH:MM-HH:MM at its end"),
        ("Mon-Fri 1-5", "no time range HH:MM-HH:MM at its end"),
        ("Mon-Fri01:00-05:00", "no time range HH:MM-HH:MM at its end"),
        ("01:00-05:00 Mon-Fri", "no time range HH:MM-HH:MM at its end"),
        ("Mon-Fry 01:00-05:00", "'Fry' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
        ("Monday 01:00-05:00", "'Monday' is not a day"),
        ("Mon,,Fri 01:00-05:00", "a day is missing"),
        ("Mon- 01:00-05:00", "a day is missing"),
        ("Mon-Tue-Wed 01:00-05:00", "'Mon-Tue-Wed' is not a day or a range of days"),
        ("25:00-05:00", "'25:00' is not a time of day (00:00 to 23:59, or 24:00)"),
        ("01:60-05:00", "'01:60' is not a time of day"),
        ("01:00-24:30", "'24:30' is not a time of day"),
        ("24:00-05:00", "24:00 only ends a window (00:00 starts one)"),
        ("01:00-01:00", "it opens and closes at 01:00 (00:00-24:00 is the whole day)"),
        ("00:00-00:00", "it opens and closes at 00:00"),
    ],
)
def test_what_is_not_a_window_says_why_and_shows_the_form(text: str, problem: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse_window(text)

    message = str(refused.value)
    assert message.startswith(f"{text!r}: ")
    assert problem in message
    assert message.endswith(WINDOW_FORM)
    assert "\n" not in message


def test_a_schedule_keeps_windows_normalized_and_times_in_utc() -> None:
    schedule = CampaignSchedule(
        start_at=datetime(2026, 12, 8, 1, tzinfo=timezone(timedelta(hours=1))),
        windows=["mon-fri 1:00-5:00", "sat,sun 00:00-24:00"],
        timezone=BERLIN,
    )

    assert schedule.start_at == utc(2026, 12, 8, 0)
    assert schedule.start_at.tzinfo is UTC
    assert schedule.windows == ["Mon-Fri 01:00-05:00", "Sat-Sun 00:00-24:00"]
    assert CampaignSchedule.model_validate_json(schedule.model_dump_json()) == schedule


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"start_at": datetime(2026, 12, 8, 1)}, "start_at", "timezone"),
        ({"end_at": datetime(2026, 12, 8, 1)}, "end_at", "timezone"),
        (
            {"start_at": utc(2026, 12, 8), "end_at": utc(2026, 12, 8)},
            "end_at",
            "2026-12-08 00:00:00 UTC is not after the start, 2026-12-08 00:00:00 UTC",
        ),
        (
            {"start_at": utc(2026, 12, 8, 1), "end_at": utc(2026, 12, 8)},
            "end_at",
            "is not after the start",
        ),
        ({"timezone": "Europe/Berln"}, "timezone", "'Europe/Berln' is not an IANA time zone"),
        ({"timezone": "Europe"}, "timezone", "'Europe' is not an IANA time zone"),
        ({"timezone": "/etc/passwd"}, "timezone", "is not an IANA time zone"),
        ({"timezone": ""}, "timezone", "is not an IANA time zone"),
        ({"timezone": "+01:00"}, "timezone", "is not an IANA time zone"),
        ({"windows": ["01:00-05:00", "Mon-Fry 01:00-05:00"]}, "windows", "'Fry' is not a day"),
    ],
)
def test_what_cannot_be_a_schedule_is_refused(
    fields: dict[str, object], field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        CampaignSchedule.model_validate(fields)

    (error,) = refused.value.errors()
    assert error["loc"][0] == field
    assert problem in error["msg"]


def test_an_old_spec_without_a_schedule_still_reads() -> None:
    spec = CampaignSpec(
        campaign_id="c1", action=CampaignAction.ACTIVATE, source=CampaignSource(file_name="x.csv")
    )
    recorded = spec.model_dump(mode="json")
    del recorded["schedule"]

    assert CampaignSpec.model_validate(recorded).schedule is None


def test_a_spec_carries_its_schedule_through_json() -> None:
    spec = CampaignSpec(
        campaign_id="c1",
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name="x.csv"),
        schedule=CampaignSchedule(windows=["Mon-Fri 01:00-05:00"], timezone=BERLIN),
    )

    again = CampaignSpec.model_validate_json(spec.model_dump_json())

    assert again == spec
    assert again.schedule is not None
    assert again.schedule.is_open(utc(2026, 12, 8, 1))


def test_asking_about_a_naive_time_is_an_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        CampaignSchedule().is_open(datetime(2026, 12, 8))


# Each case: a schedule, an instant, and what is_open, next_open_at and next_change_at answer.
# Berlin is UTC+1 in winter (CET) and UTC+2 in summer (CEST).
WEEKDAY_NIGHTS = CampaignSchedule(windows=["Mon-Fri 01:00-05:00"], timezone=BERLIN)
LATE_NIGHTS = CampaignSchedule(windows=["Fri-Sun 22:00-02:00"], timezone=BERLIN)
UNTIL_HALF_TWO = CampaignSchedule(windows=["01:00-02:30"], timezone=BERLIN)
IN_SKIPPED_HOUR = CampaignSchedule(windows=["02:00-02:30"], timezone=BERLIN)
TWO_TO_THREE = CampaignSchedule(windows=["02:00-03:00"], timezone=BERLIN)
BETWEEN = CampaignSchedule(start_at=utc(2026, 12, 8, 10), end_at=utc(2026, 12, 9, 10))
BETWEEN_AT_NIGHT = CampaignSchedule(
    start_at=utc(2026, 12, 7, 12),
    end_at=utc(2026, 12, 9, 1, 30),
    windows=["01:00-05:00"],
    timezone=BERLIN,
)
OPEN_AFTER_END = CampaignSchedule(
    end_at=utc(2026, 12, 8, 12), windows=["Sat 01:00-05:00"], timezone=BERLIN
)
ALL_WEEK = CampaignSchedule(windows=["Mon-Thu 00:00-24:00", "Fri-Sun 00:00-24:00"])
MIDNIGHTS_TOUCH = CampaignSchedule(windows=["Mon 20:00-24:00", "Tue 00:00-03:00"])
OVERLAPPING = CampaignSchedule(windows=["Mon 01:00-04:00", "Mon 03:00-06:00"])


@pytest.mark.parametrize(
    ("schedule", "now", "open_now", "next_open", "next_change"),
    [
        # Tuesday 2026-12-08, winter: the window is 00:00-04:00 UTC.
        (WEEKDAY_NIGHTS, utc(2026, 12, 8, 0), True, utc(2026, 12, 8, 0), utc(2026, 12, 8, 4)),
        (WEEKDAY_NIGHTS, utc(2026, 12, 7, 23, 59), False, utc(2026, 12, 8), utc(2026, 12, 8)),
        (WEEKDAY_NIGHTS, utc(2026, 12, 8, 4), False, utc(2026, 12, 9), utc(2026, 12, 9)),
        # Friday night: the next opening is Monday's.
        (WEEKDAY_NIGHTS, utc(2026, 12, 11, 4), False, utc(2026, 12, 14), utc(2026, 12, 14)),
        # Summer: the same window is 23:00-03:00 UTC, from the day before.
        (WEEKDAY_NIGHTS, utc(2026, 7, 6, 23), True, utc(2026, 7, 6, 23), utc(2026, 7, 7, 3)),
        # Monday 2026-03-30, the first weekday after the March change, opens at 23:00 UTC.
        (WEEKDAY_NIGHTS, utc(2026, 3, 27, 12), False, utc(2026, 3, 29, 23), utc(2026, 3, 29, 23)),
        # Crossing midnight: Sunday's opening runs into Monday, Monday has none of its own.
        (
            LATE_NIGHTS,
            utc(2026, 12, 14, 0, 59),
            True,
            utc(2026, 12, 14, 0, 59),
            utc(2026, 12, 14, 1),
        ),
        (LATE_NIGHTS, utc(2026, 12, 14, 1), False, utc(2026, 12, 18, 21), utc(2026, 12, 18, 21)),
        # Friday's and Saturday's nights are two openings, closed between them.
        (LATE_NIGHTS, utc(2026, 12, 19, 12), False, utc(2026, 12, 19, 21), utc(2026, 12, 19, 21)),
        # March: clocks jump 02:00 CET → 03:00 CEST at 01:00 UTC; a window ending in the skipped
        # hour closes at the jump, one inside it does not open that night.
        (
            UNTIL_HALF_TWO,
            utc(2026, 3, 29, 0, 59),
            True,
            utc(2026, 3, 29, 0, 59),
            utc(2026, 3, 29, 1),
        ),
        (UNTIL_HALF_TWO, utc(2026, 3, 29, 1), False, utc(2026, 3, 29, 23), utc(2026, 3, 29, 23)),
        (IN_SKIPPED_HOUR, utc(2026, 3, 28, 12), False, utc(2026, 3, 30, 0), utc(2026, 3, 30, 0)),
        (IN_SKIPPED_HOUR, utc(2026, 3, 28, 1), True, utc(2026, 3, 28, 1), utc(2026, 3, 28, 1, 30)),
        # October: clocks go back 03:00 CEST → 02:00 CET at 01:00 UTC; 02:30 is its first
        # occurrence, and the repeated hour does not open the window again.
        (
            UNTIL_HALF_TWO,
            utc(2026, 10, 24, 23),
            True,
            utc(2026, 10, 24, 23),
            utc(2026, 10, 25, 0, 30),
        ),
        (
            UNTIL_HALF_TWO,
            utc(2026, 10, 25, 1, 15),
            False,
            utc(2026, 10, 26, 0),
            utc(2026, 10, 26, 0),
        ),
        # 02:00-03:00 that night lasts two hours: from 02:00 CEST to 03:00 CET.
        (TWO_TO_THREE, utc(2026, 10, 25, 0), True, utc(2026, 10, 25, 0), utc(2026, 10, 25, 2)),
        # ... and in March none: 02:00 is the jump and 03:00 too.
        (TWO_TO_THREE, utc(2026, 3, 28, 2), False, utc(2026, 3, 30, 0), utc(2026, 3, 30, 0)),
        # Start and end alone.
        (BETWEEN, utc(2026, 12, 8, 9), False, utc(2026, 12, 8, 10), utc(2026, 12, 8, 10)),
        (BETWEEN, utc(2026, 12, 8, 10), True, utc(2026, 12, 8, 10), utc(2026, 12, 9, 10)),
        (BETWEEN, utc(2026, 12, 9, 10), False, None, None),
        # With windows: the first one after the start, and the end closes the last one early.
        (BETWEEN_AT_NIGHT, utc(2026, 12, 7, 0, 30), False, utc(2026, 12, 8, 0), utc(2026, 12, 8)),
        (BETWEEN_AT_NIGHT, utc(2026, 12, 9, 0), True, utc(2026, 12, 9, 0), utc(2026, 12, 9, 1, 30)),
        (BETWEEN_AT_NIGHT, utc(2026, 12, 9, 1, 30), False, None, None),
        # No window before the end: never again, and the end is the next change.
        (OPEN_AFTER_END, utc(2026, 12, 7), False, None, utc(2026, 12, 8, 12)),
        # Windows that hold the whole week never close; nor are touching windows two.
        (ALL_WEEK, utc(2026, 12, 8, 13), True, utc(2026, 12, 8, 13), None),
        (MIDNIGHTS_TOUCH, utc(2026, 12, 7, 23), True, utc(2026, 12, 7, 23), utc(2026, 12, 8, 3)),
        (OVERLAPPING, utc(2026, 12, 7, 3, 30), True, utc(2026, 12, 7, 3, 30), utc(2026, 12, 7, 6)),
        # No schedule restriction at all: open, for good.
        (CampaignSchedule(), utc(2026, 12, 8), True, utc(2026, 12, 8), None),
    ],
)
def test_when_first_writes_may_happen(
    schedule: CampaignSchedule,
    now: datetime,
    open_now: bool,
    next_open: datetime | None,
    next_change: datetime | None,
) -> None:
    assert schedule.is_open(now) is open_now
    assert schedule.next_open_at(now) == next_open
    assert schedule.next_change_at(now) == next_change
    for answer in (schedule.next_open_at(now), schedule.next_change_at(now)):
        assert answer is None or answer.tzinfo is UTC


def test_an_instant_in_any_offset_is_the_same_instant() -> None:
    in_berlin = datetime(2026, 12, 8, 1, tzinfo=timezone(timedelta(hours=1)))

    assert WEEKDAY_NIGHTS.is_open(in_berlin)
    assert WEEKDAY_NIGHTS.next_change_at(in_berlin) == utc(2026, 12, 8, 4)


def test_the_end_is_reached_at_end_at_not_before() -> None:
    assert not BETWEEN.ended(utc(2026, 12, 9, 10) - timedelta(microseconds=1))
    assert BETWEEN.ended(utc(2026, 12, 9, 10))
    assert not CampaignSchedule().ended(utc(2099, 1, 1))


def test_next_window_at_is_shown_only_while_waiting() -> None:
    assert next_window_at(None, utc(2026, 12, 8, 12)) is None
    assert next_window_at(WEEKDAY_NIGHTS, utc(2026, 12, 8, 1)) is None
    assert next_window_at(WEEKDAY_NIGHTS, utc(2026, 12, 8, 12)) == utc(2026, 12, 9)
    assert next_window_at(OPEN_AFTER_END, utc(2026, 12, 7)) is None


def test_a_schedule_is_described_in_utc_and_local_time() -> None:
    lines = describe_schedule(BETWEEN_AT_NIGHT, utc(2026, 12, 7, 0, 30))

    assert lines == [
        "schedule: time zone Europe/Berlin; windows: 01:00-05:00",
        "  start: 2026-12-07 12:00:00 UTC (Mon 2026-12-07 13:00:00 CET, Europe/Berlin)",
        "  end: 2026-12-09 01:30:00 UTC (Wed 2026-12-09 02:30:00 CET, Europe/Berlin)",
        "  next opening: 2026-12-08 00:00:00 UTC (Tue 2026-12-08 01:00:00 CET, Europe/Berlin)",
    ]
    assert describe_schedule(BETWEEN_AT_NIGHT, utc(2026, 12, 9, 0))[-1] == (
        "  next opening: now (inside the schedule)"
    )
    assert describe_schedule(BETWEEN_AT_NIGHT, utc(2026, 12, 10))[-1] == (
        "  next opening: never (the end has passed)"
    )
    assert describe_schedule(OPEN_AFTER_END, utc(2026, 12, 7))[-1] == (
        "  next opening: never (no window opens before the end)"
    )
    assert describe_schedule(CampaignSchedule(), utc(2026, 12, 7))[0] == (
        "schedule: time zone UTC; windows: none (at any time)"
    )


# The property: next_change_at(now) is the first instant after now at which is_open differs
# from is_open(now), or the end, whichever comes first; walked minute by minute. Each schedule
# is walked over three weeks from `first`, and asked about random instants of its first week.
WALKED = [
    pytest.param(
        CampaignSchedule(windows=["Mon-Fri 01:00-05:00", "Sat,Sun 22:00-02:00"], timezone=BERLIN),
        utc(2026, 3, 23),
        id="weekday-and-weekend-nights-over-march",
    ),
    pytest.param(
        CampaignSchedule(
            windows=["01:00-02:30", "02:00-03:00", "Sun 23:00-01:00"], timezone=BERLIN
        ),
        utc(2026, 10, 19),
        id="overlapping-windows-over-october",
    ),
    pytest.param(
        # Closed only Sunday 02:00-03:00, which the March change skips: open two weeks in a row.
        CampaignSchedule(
            windows=["Mon-Sat 00:00-24:00", "Sun 00:00-02:00", "Sun 03:00-24:00"], timezone=BERLIN
        ),
        utc(2026, 3, 20),
        id="closed-one-hour-a-week-skipped-in-march",
    ),
    pytest.param(
        CampaignSchedule(
            start_at=utc(2026, 12, 9, 7, 13),
            end_at=utc(2026, 12, 17, 22, 41),
            windows=["Fri-Mon 23:00-01:00", "Wed 12:00-13:30"],
            timezone="America/New_York",
        ),
        utc(2026, 12, 7),
        id="start-and-end-inside-windows-new-york",
    ),
    pytest.param(
        # Lord Howe Island moves its clocks by half an hour (02:00 → 02:30 on 2026-10-04).
        CampaignSchedule(
            windows=["Sat-Sun 01:45-02:15", "Tue 02:10-02:20"], timezone="Australia/Lord_Howe"
        ),
        utc(2026, 9, 28),
        id="half-hour-change-lord-howe",
    ),
    pytest.param(
        CampaignSchedule(start_at=utc(2026, 12, 3, 5, 5), end_at=utc(2026, 12, 12, 1, 1)),
        utc(2026, 12, 1),
        id="start-and-end-only",
    ),
]
WALK = timedelta(weeks=3)
QUESTIONS = 150


@pytest.mark.parametrize(("schedule", "first"), WALKED)
def test_next_change_is_the_first_minute_is_open_differs(
    schedule: CampaignSchedule, first: datetime
) -> None:
    minutes = int(WALK / timedelta(minutes=1))
    walked = [schedule.is_open(first + timedelta(minutes=n)) for n in range(minutes)]
    changes = [n for n in range(1, minutes) if walked[n] != walked[n - 1]]
    assert changes, "a walked schedule opens and closes"
    questions = random.Random(24)
    for _ in range(QUESTIONS):
        now = first + timedelta(seconds=questions.uniform(0, timedelta(weeks=1).total_seconds()))
        minute = int((now - first) / timedelta(minutes=1))
        flip = next((first + timedelta(minutes=n) for n in changes if n > minute), None)
        assert flip is not None, "three weeks hold a change after any instant of the first"
        end = schedule.end_at if schedule.end_at is not None and schedule.end_at > now else None
        expected_change = min(flip, end) if end is not None else flip

        assert schedule.is_open(now) is walked[minute], now
        assert schedule.next_change_at(now) == expected_change, now
        if walked[minute]:
            assert schedule.next_open_at(now) == now
        else:
            assert schedule.next_open_at(now) == (flip if end is None or flip < end else None)
