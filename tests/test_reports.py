"""Campaign reports: CSV and JSON that read back as written, streamed, and the summary line."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from simops.models import (
    PENDING,
    CampaignAction,
    DryRunPlan,
    OutcomeKind,
    ReportRow,
    SimStatus,
    SkippedRow,
)
from simops.reports import REPORT_COLUMNS, csv_safe, render_plan, summarize, write_report

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
        skipped=[
            SkippedRow(
                row_no=4,
                line_no=5,
                reference="89883070000000000078",
                code=20404,
                reason="no SIM with this ICCID in the account",
            )
        ],
        skipped_total=5,
    )

    text = render_plan(plan)

    assert text.splitlines() == [
        "campaign spring: activate, 1,005 rows, 1,000 valid, 5 invalid",
        "planned changes:",
        "        990  new → active, fleet none → lab (HF…)",
        "         10  already converged (no change)",
        "skipped (5 invalid rows):",
        "  row 4 (line 5) 898830…0078: no SIM with this ICCID in the account [20404]",
        "  … and 4 more (simops campaign report lists every row)",
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
