"""Which of a campaign's rows ended since the last `rows_ended` event: a cursor over row numbers.

Rows end out of order (batches run side by side, SIMs in a batch take their own time), so the
cursor is a low-water mark (every row below it was reported) and the runs of rows reported above
it; both stay small, as rows above the mark are those of the batches in flight. Reported rows
are sent as runs of consecutive rows of one outcome and code: a million rows cancelled at once
make one run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

MAX_RUNS_PER_EVENT = 500
"""Runs one `rows_ended` event carries at most; the rows beyond go in the next one."""


class EndedRowRange(BaseModel):
    """Rows `first_row`..`last_row`, consecutive, that ended with one outcome and code."""

    first_row: int
    last_row: int
    outcome: str
    code: int | None = None

    @property
    def row_count(self) -> int:
        """How many rows the run holds."""
        return self.last_row - self.first_row + 1


class EndedRowsCursor(BaseModel):
    """What was reported: every row below `low`, and the runs `reported` above it."""

    sequence: int = 0
    """How many `rows_ended` events were collected."""
    low: int = 1
    reported: list[tuple[int, int]] = Field(default_factory=list)
    """Sorted, disjoint runs `(first, last)` of rows reported at or above `low`."""
    last_ranges: list[EndedRowRange] = Field(default_factory=list)
    """What collection `sequence` returned: a retry of it returns the same."""


def is_reported(cursor: EndedRowsCursor, row_no: int) -> bool:
    """Whether `row_no` was in an earlier event."""
    if row_no < cursor.low:
        return True
    return any(first <= row_no <= last for first, last in cursor.reported)


def runs_of(rows: Iterable[tuple[int, str, int | None]]) -> list[EndedRowRange]:
    """Consecutive rows (sorted by number) of one outcome and code, as runs."""
    ranges: list[EndedRowRange] = []
    for row_no, outcome, code in rows:
        last = ranges[-1] if ranges else None
        if (
            last is not None
            and last.last_row == row_no - 1
            and last.outcome == outcome
            and last.code == code
        ):
            last.last_row = row_no
        else:
            ranges.append(
                EndedRowRange(first_row=row_no, last_row=row_no, outcome=outcome, code=code)
            )
    return ranges


def advanced(
    cursor: EndedRowsCursor, ended: Sequence[tuple[int, str, int | None]]
) -> EndedRowsCursor:
    """The cursor after collection `cursor.sequence + 1`: `ended` (rows at or above the mark
    with an outcome, sorted) less those reported, at most `MAX_RUNS_PER_EVENT` runs of them,
    recorded as reported, in `last_ranges`."""
    fresh = [row for row in ended if not is_reported(cursor, row[0])]
    ranges = runs_of(fresh)[:MAX_RUNS_PER_EVENT]
    runs = sorted([*cursor.reported, *((run.first_row, run.last_row) for run in ranges)])
    merged: list[tuple[int, int]] = []
    for first, last in runs:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    low = cursor.low
    while merged and merged[0][0] <= low:
        low = max(low, merged.pop(0)[1] + 1)
    return EndedRowsCursor(
        sequence=cursor.sequence + 1, low=low, reported=merged, last_ranges=ranges
    )
