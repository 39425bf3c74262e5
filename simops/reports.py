"""Campaign reports: every input row once, as CSV or a JSON array, written as it is read.

Neither format is built in memory: a million-row report streams from the store to the file.
JSON is one array (so `jq '.[] | select(.outcome == "failed")'` works as is), written element
by element; CSV has a header row and the same columns, empty cells for missing values, and no
cell a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import TextIO

from simops.models import MIGRATION_ACTIONS, PENDING, DryRunPlan, OutcomeKind, ReportRow
from simops.supersim.errors import mask_iccids

REPORT_FORMATS = ("csv", "json")

REPORT_COLUMNS = tuple(ReportRow.model_fields)
"""The columns of a report, in the order of `ReportRow`'s fields."""

SUMMARY_ORDER = (*(kind.value for kind in OutcomeKind), PENDING)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection")."""


def csv_safe(cell: str) -> str:
    """`cell` as a spreadsheet shows it and never runs it: a leading `'` before a formula
    trigger (OWASP's rule). Reports copy what customers choose (unique names, references), and
    a name like `=HYPERLINK(…)` would otherwise run in whoever opens the report."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def _write_csv(rows: Iterable[ReportRow], out: TextIO) -> int:
    # CRLF, as RFC 4180 has it: with it the writer also quotes a cell holding a lone CR, which
    # a "\n" terminator leaves bare (and a reader then splits the row in two).
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    written = 0
    for row in rows:
        writer.writerow([csv_safe(_cell(getattr(row, column))) for column in REPORT_COLUMNS])
        written += 1
    return written


def _write_json(rows: Iterable[ReportRow], out: TextIO) -> int:
    written = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if written else "\n")
        out.write(row.model_dump_json())
        written += 1
    out.write("\n]\n" if written else "]\n")
    return written


def write_report(rows: Iterable[ReportRow], out: TextIO, fmt: str) -> int:
    """Write the report rows to `out` as `csv` or `json` (`REPORT_FORMATS`); how many rows."""
    if fmt == "csv":
        return _write_csv(rows, out)
    if fmt == "json":
        return _write_json(rows, out)
    raise ValueError(f"unknown report format {fmt!r}: csv or json")


def summarize(counts: Mapping[str, int]) -> str:
    """One line of counts, e.g. `1,000 rows: 950 converged, 30 already converged, 20 failed`."""
    total = sum(counts.values())
    ordered = [*SUMMARY_ORDER, *sorted(set(counts) - set(SUMMARY_ORDER))]
    parts = [f"{counts[name]:,} {name.replace('_', ' ')}" for name in ordered if counts.get(name)]
    noun = "row" if total == 1 else "rows"
    return f"{total:,} {noun}: {', '.join(parts)}" if parts else f"{total:,} {noun}"


def render_plan(plan: DryRunPlan) -> str:
    """The dry run's plan as text: counts per planned change, then each skipped row and why.

    ICCIDs are masked: the plan goes to a terminal (and CI logs); the report has them whole.
    """
    noun = "migration" if plan.action in MIGRATION_ACTIONS else "campaign"
    lines = [
        f"{noun} {plan.campaign_id}: {plan.action.value}, {plan.rows:,} rows, "
        f"{plan.valid:,} valid, {plan.invalid:,} invalid",
        *(f"  note: {note}" for note in plan.notes),
        "planned changes:",
    ]
    changes = sorted(plan.planned_changes.items(), key=lambda item: (-item[1], item[0]))
    lines += [f"  {count:>9,}  {change}" for change, count in changes]
    lines.append(f"  {plan.already_converged:>9,}  already converged (no change)")
    if plan.skipped_total:
        lines.append(f"skipped ({plan.skipped_total:,} invalid rows):")
        for row in plan.skipped:
            where = f"row {row.row_no}" + (f" (line {row.line_no})" if row.line_no else "")
            code = f" [{row.code}]" if row.code is not None else ""
            lines.append(mask_iccids(f"  {where} {row.reference}: {row.reason}{code}"))
        if len(plan.skipped) < plan.skipped_total:
            rest = plan.skipped_total - len(plan.skipped)
            lines.append(f"  … and {rest:,} more (simops campaign report lists every row)")
    lines.append("dry run: nothing was written")
    return "\n".join(lines)
