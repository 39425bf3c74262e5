"""Campaign reports: CSV and JSON that read back as written, streamed, and the summary line."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from simops.campaigns.reports import (
    FIRST_ROWS,
    MOST_KINDS,
    OTHER_KINDS,
    REPORT_COLUMNS,
    RowTally,
    csv_safe,
    plan_row_line,
    render_plan,
    summarize,
    write_plan_csv,
    write_report,
)
from simops.campaigns.rows import PENDING, DryRunPlan, ReportRow, RowSample
from simops.campaigns.spec import CampaignAction
from simops.campaigns.store.preparation import PlanRow
from simops.core.sim import OutcomeKind, SimStatus

FLEET = "HF" + "2" * 32


def report_row(row_no: int) -> ReportRow:
    if row_no % 3 == 0:
        return ReportRow(
            row_no=row_no,
            line_no=row_no + 1,
            reference=f'dev-{row_no}, "quoted"',
            outcome=OutcomeKind.INVALID,
            code=20404,
            message="no SIM with this unique name in the account",
        )
    return ReportRow(
        row_no=row_no,
        line_no=row_no + 1,
        reference=f"HS{row_no:032x}",
        sim_sid=f"HS{row_no:032x}",
        outcome=OutcomeKind.CONVERGED if row_no % 3 == 1 else PENDING,
        before_status=SimStatus.NEW,
        after_status=SimStatus.ACTIVE,
        after_fleet=FLEET,
        attempts=1,
        started_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
        finished_at=datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC),
    )


ROWS = [report_row(row_no) for row_no in range(1, 8)]


def test_csv_reads_back_as_the_rows() -> None:
    out = io.StringIO()

    written = write_report(ROWS, out, "csv")

    out.seek(0)
    records = list(csv.DictReader(out))
    assert written == len(ROWS) == len(records)
    assert tuple(records[0]) == REPORT_COLUMNS
    for record, row in zip(records, ROWS, strict=True):
        parsed = ReportRow.model_validate({key: value or None for key, value in record.items()})
        assert parsed == row


def test_json_is_one_array_of_the_rows() -> None:
    out = io.StringIO()

    write_report(ROWS, out, "json")

    assert json.loads(out.getvalue()) == [row.model_dump(mode="json") for row in ROWS]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_empty_report_is_still_valid(fmt: str) -> None:
    out = io.StringIO()

    assert write_report([], out, fmt) == 0

    if fmt == "json":
        assert json.loads(out.getvalue()) == []
    else:
        assert out.getvalue().splitlines() == [",".join(REPORT_COLUMNS)]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_rows_are_written_as_they_come(fmt: str) -> None:
    out = io.StringIO()
    lengths: list[int] = []

    def rows() -> Iterator[ReportRow]:
        for row_no in range(1, 2001):
            lengths.append(len(out.getvalue()))
            yield report_row(row_no)

    assert write_report(rows(), out, fmt) == 2000

    # Each row was out before the next one was even made: nothing is held back.
    assert all(later > earlier for earlier, later in itertools.pairwise(lengths))


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="csv or json"):
        write_report(ROWS, io.StringIO(), "xml")


def test_summary_line() -> None:
    counts = {
        OutcomeKind.CONVERGED.value: 1200,
        OutcomeKind.ALREADY_CONVERGED.value: 30,
        OutcomeKind.FAILED.value: 0,
        OutcomeKind.INVALID.value: 5,
        PENDING: 2,
    }

    assert summarize(counts) == (
        "1,237 rows: 1,200 converged, 30 already converged, 5 invalid, 2 pending"
    )
    assert summarize({}) == "0 rows"
    assert summarize({PENDING: 1}) == "1 row: 1 pending"


def test_the_dry_run_plan_as_text_masks_iccids() -> None:
    plan = DryRunPlan(
        campaign_id="spring",
        action=CampaignAction.ACTIVATE,
        rows=1005,
        valid=1000,
        invalid=5,
        already_converged=10,
        planned_changes={"new → active, fleet none → lab (HF…)": 990},
        invalid_by_code={"20404": 5},
        changes=[
            RowSample(label="new → active, fleet none → lab (HF…)", count=990, first_rows=[1, 2]),
            RowSample(label="already converged", count=10, first_rows=[7]),
        ],
        invalid_reasons=[
            RowSample(
                label="no SIM with ICCID 89883070000000000078", code=20404, count=5, first_rows=[4]
            )
        ],
    )

    text = render_plan(plan)

    assert text.splitlines() == [
        "campaign spring: activate, 1,005 rows, 1,000 valid, 5 invalid",
        "planned changes:",
        "        990  new → active, fleet none → lab (HF…) (rows 1, 2, …)",
        "         10  already converged (row 7, …)",
        "invalid (5 rows), by reason:",
        "          5  no SIM with ICCID 898830…0078 [20404] (row 4, …)",
        "dry run: nothing was written",
    ]


FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://e.example","x")']


def test_csv_cells_never_start_a_formula() -> None:
    rows = [
        ReportRow(row_no=n, reference=text, outcome=OutcomeKind.INVALID, message=text)
        for n, text in enumerate(FORMULAS, start=1)
    ]
    out = io.StringIO()

    write_report(rows, out, "csv")

    read = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert [(row["reference"], row["message"]) for row in read] == [
        ("'" + text, "'" + text) for text in FORMULAS
    ]
    as_json = io.StringIO()
    write_report(rows, as_json, "json")
    assert [row["reference"] for row in json.loads(as_json.getvalue())] == FORMULAS


@pytest.mark.parametrize("text", ["HS1", "a=b", "1-2", "", "'=x", " =x", "café"])
def test_other_cells_are_left_as_they_are(text: str) -> None:
    assert csv_safe(text) == text


def plan_row(row_no: int, change: str | None = None, reason: str | None = None) -> PlanRow:
    code = 20001 if reason else None
    return PlanRow(row_no, row_no + 1, f"ref-{row_no}", None, change, code, reason)


def test_the_tally_counts_every_row_and_keeps_the_first_few() -> None:
    tally = RowTally()
    for row_no in range(1, 1001):
        if row_no % 2:
            tally.add(plan_row(row_no, change="new → active"))
        else:
            tally.add(plan_row(row_no, reason=f"duplicate of row {row_no - 1} (the same SIM)"))

    (change,) = tally.changes()
    (reason,) = tally.invalid_reasons()
    assert (change.label, change.count, change.first_rows) == ("new → active", 500, [1, 3, 5, 7, 9])
    assert (reason.label, reason.code, reason.count) == (
        "duplicate of row N (the same SIM)",
        20001,
        500,
    )
    assert reason.first_rows == [2, 4, 6, 8, 10][:FIRST_ROWS]


def test_the_tally_does_not_grow_with_distinct_reasons() -> None:
    tally = RowTally()
    for row_no in range(1, 10_001):
        tally.add(plan_row(row_no, reason=f"no Fleet 'fleet-{row_no}'"))

    reasons = tally.invalid_reasons()
    assert len(reasons) == MOST_KINDS + 1
    assert sum(sample.count for sample in reasons) == 10_000
    other = next(sample for sample in reasons if sample.label == OTHER_KINDS)
    assert other.count == 10_000 - MOST_KINDS and other.first_rows[0] == MOST_KINDS + 1


def test_every_row_as_text_and_csv() -> None:
    rows = [
        plan_row(1, change="new → active"),
        PlanRow(2, 3, "89883070000000000078", None, None, 20404, "no SIM with this ICCID"),
        PlanRow(3, 4, "=cmd()", None, None, 20404, "no SIM with this unique name"),
    ]
    out = io.StringIO()

    written = write_plan_csv(rows, out)

    assert [plan_row_line(row) for row in rows] == [
        "row 1 (line 2) ref-1: new → active",
        "row 2 (line 3) 898830…0078: invalid [20404], no SIM with this ICCID",
        "row 3 (line 4) =cmd(): invalid [20404], no SIM with this unique name",
    ]
    assert written == 3
    read = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert [(row["row_no"], row["plan"], row["reference"]) for row in read] == [
        ("1", "new → active", "ref-1"),
        ("2", "invalid", "89883070000000000078"),
        ("3", "invalid", "'=cmd()"),
    ]
