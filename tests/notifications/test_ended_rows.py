"""Which rows a `rows_ended` event carries: runs of rows, each row once, a retry the same."""

from __future__ import annotations

from simops.notifications.ended_rows import MAX_RUNS_PER_EVENT, EndedRowsCursor, advanced, runs_of


def test_consecutive_rows_of_one_outcome_and_code_make_one_run() -> None:
    runs = runs_of(
        [
            (1, "converged", None),
            (2, "converged", None),
            (3, "failed", 20_006),
            (5, "failed", 20_006),
        ]
    )

    assert [(run.first_row, run.last_row, run.outcome, run.code) for run in runs] == [
        (1, 2, "converged", None),
        (3, 3, "failed", 20_006),
        (5, 5, "failed", 20_006),
    ]


def test_rows_ended_out_of_order_are_each_reported_once() -> None:
    first = advanced(EndedRowsCursor(), [(2, "converged", None), (3, "converged", None)])
    second = advanced(
        first, [(1, "failed", 1), (2, "converged", None), (3, "converged", None), (5, "x", None)]
    )

    assert [(run.first_row, run.last_row) for run in first.last_ranges] == [(2, 3)]
    assert [(run.first_row, run.last_row) for run in second.last_ranges] == [(1, 1), (5, 5)]
    # Everything below 4 was reported: the mark moved past it, only row 5 is kept above.
    assert second.low == 4 and second.reported == [(5, 5)]
    assert advanced(second, [(5, "x", None)]).last_ranges == []


def test_an_event_carries_at_most_its_share_of_runs_and_the_rest_come_next() -> None:
    alternating = [(row, "converged" if row % 2 else "failed", None) for row in range(1, 1202)]
    first = advanced(EndedRowsCursor(), alternating)
    second = advanced(first, alternating)
    third = advanced(second, alternating)

    assert len(first.last_ranges) == len(second.last_ranges) == MAX_RUNS_PER_EVENT
    reported = [run.first_row for cursor in (first, second, third) for run in cursor.last_ranges]
    assert reported == list(range(1, 1202))
