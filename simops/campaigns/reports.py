"""Campaign reports: every input row once, as CSV or a JSON array, written as it is read.

Neither format is built in memory: a million-row report streams from the store to the file.
JSON is one array (so `jq '.[] | select(.outcome == "failed")'` works as is), written element
by element; CSV has a header row and the same columns, empty cells for missing values, and no
cell a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TextIO

from simops.campaigns.rows import (
    PENDING,
    CanaryStatus,
    DryRunPlan,
    OutOfServiceSummary,
    ReportRow,
    RowSample,
)
from simops.campaigns.rules import path_text
from simops.campaigns.spec import MIGRATION_ACTIONS
from simops.campaigns.store.preparation import PlanRow
from simops.core.sim import OutcomeKind
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


def _csv_writer(out: TextIO) -> Any:
    # CRLF, as RFC 4180 has it: with it the writer also quotes a cell holding a lone CR, which
    # a "\n" terminator leaves bare (and a reader then splits the row in two).
    return csv.writer(out, lineterminator="\r\n")


def _write_csv(rows: Iterable[ReportRow], out: TextIO) -> int:
    writer = _csv_writer(out)
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


def percentile(ordered: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of values sorted ascending."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def out_of_service_summary(ordered: Sequence[float]) -> OutOfServiceSummary | None:
    """p50, p99 and max of the SIMs' times out of service (sorted); `None` when none left."""
    if not ordered:
        return None
    return OutOfServiceSummary(
        sims=len(ordered),
        p50_seconds=percentile(ordered, 0.50),
        p99_seconds=percentile(ordered, 0.99),
        max_seconds=ordered[-1],
    )


def describe_out_of_service(summary: OutOfServiceSummary | None) -> str:
    """One line of how long SIMs were out of service."""
    if summary is None:
        return "no SIM left service"
    noun = "SIM" if summary.sims == 1 else "SIMs"
    return (
        f"{summary.sims:,} {noun} out of service: p50 {summary.p50_seconds:.1f} s, "
        f"p99 {summary.p99_seconds:.1f} s, max {summary.max_seconds:.1f} s"
    )


def summarize(counts: Mapping[str, int]) -> str:
    """One line of counts, e.g. `1,000 rows: 950 converged, 30 already converged, 20 failed`."""
    total = sum(counts.values())
    ordered = [*SUMMARY_ORDER, *sorted(set(counts) - set(SUMMARY_ORDER))]
    parts = [f"{counts[name]:,} {name.replace('_', ' ')}" for name in ordered if counts.get(name)]
    noun = "row" if total == 1 else "rows"
    return f"{total:,} {noun}: {', '.join(parts)}" if parts else f"{total:,} {noun}"


FIRST_ROWS = 5
"""How many row numbers the dry run shows for each planned change and each invalid reason."""

MOST_KINDS = 50
"""Distinct changes or reasons the dry run counts apart; more are counted together."""

OTHER_KINDS = "other (more kinds than the dry run lists one by one)"
ROW_NUMBER = re.compile(r"\brow \d+")
RESOURCE_SID = re.compile(r"\b([A-Z]{2})[0-9a-fA-F]{32}\b")
PLAN_CSV_COLUMNS = ("row_no", "line_no", "reference", "sim_sid", "plan", "code", "reason")
INVALID = "invalid"


def reason_kind(reason: str) -> str:
    """A reason without what differs from row to row (row numbers, SIDs), so that rows that are
    invalid for the same reason count together: `duplicate of row N (the same SIM)`."""
    return RESOURCE_SID.sub(r"\1…", ROW_NUMBER.sub("row N", reason))


class RowTally:
    """Counts rows per planned change and per invalid reason, keeping the first few row
    numbers of each; its memory does not grow with the rows (at most `MOST_KINDS` of each)."""

    def __init__(self) -> None:
        self._changes: dict[tuple[str, int | None], RowSample] = {}
        self._reasons: dict[tuple[str, int | None], RowSample] = {}

    def add(self, row: PlanRow) -> None:
        """Count one prepared row."""
        if row.invalid_reason is None:
            self._count(self._changes, row.change or "no plan", None, row.row_no)
        else:
            self._count(
                self._reasons, reason_kind(row.invalid_reason), row.invalid_code, row.row_no
            )

    @staticmethod
    def _count(
        samples: dict[tuple[str, int | None], RowSample], label: str, code: int | None, row: int
    ) -> None:
        key = (label, code)
        sample = samples.get(key)
        if sample is None:
            if len(samples) >= MOST_KINDS:
                key = (OTHER_KINDS, None)
            sample = samples.setdefault(key, RowSample(label=key[0], code=key[1]))
        sample.count += 1
        if len(sample.first_rows) < FIRST_ROWS:
            sample.first_rows.append(row)

    @staticmethod
    def _ordered(samples: dict[tuple[str, int | None], RowSample]) -> list[RowSample]:
        return sorted(samples.values(), key=lambda sample: (-sample.count, sample.first_rows))

    def changes(self) -> list[RowSample]:
        """The planned changes (already converged included), most rows first."""
        return self._ordered(self._changes)

    def invalid_reasons(self) -> list[RowSample]:
        """The invalid reasons, most rows first."""
        return self._ordered(self._reasons)


def _sample_line(sample: RowSample) -> str:
    code = f" [{sample.code}]" if sample.code is not None else ""
    rows = ", ".join(str(row_no) for row_no in sample.first_rows)
    more = ", …" if sample.count > len(sample.first_rows) else ""
    noun = "row" if len(sample.first_rows) == 1 else "rows"
    return f"  {sample.count:>9,}  {sample.label}{code} ({noun} {rows}{more})"


def render_plan(plan: DryRunPlan) -> str:
    """The dry run's plan as text: rows per planned change and per invalid reason, each with
    its first row numbers. Its length does not grow with the campaign.

    ICCIDs are masked: the plan goes to a terminal (and CI logs); the report has them whole.
    """
    noun = "migration" if plan.action in MIGRATION_ACTIONS else "campaign"
    lines = [
        f"{noun} {plan.campaign_id}: {plan.action.value}, {plan.rows:,} rows, "
        f"{plan.valid:,} valid, {plan.invalid:,} invalid",
        *(f"  note: {note}" for note in plan.notes),
        "planned changes:",
        *(_sample_line(sample) for sample in plan.changes),
    ]
    if plan.invalid_reasons:
        lines.append(f"invalid ({plan.invalid:,} rows), by reason:")
        lines += [mask_iccids(_sample_line(sample)) for sample in plan.invalid_reasons]
    if plan.canary is not None:
        lines += _canary_lines(plan.canary)
    lines.append("dry run: nothing was written")
    return "\n".join(lines)


def _canary_lines(canary: CanaryStatus) -> list[str]:
    """The canary's SIMs per path, paths in the order of their first row."""
    if not canary.sims:
        return ["canary: none (no SIM needs a write)"]
    by_path: dict[str, list[str]] = {}
    for sim in canary.sims:
        by_path.setdefault(sim.path, []).append(f"    row {sim.row_no:<8} {sim.sim_sid}")
    lines = [
        f"canary, {canary.per_path} per path (its first rows): each goes its whole path, in the "
        "first batch and alone, before any other SIM is written"
    ]
    for path, sims in by_path.items():
        noun = "SIM" if len(sims) == 1 else "SIMs"
        lines += [f"  {path_text(path) if path else 'the first rows'} ({len(sims)} {noun}):", *sims]
    return lines


def describe_canary(canary: CanaryStatus) -> str:
    """The canary in a few words: `canary 20 SIMs, 2 paths: 10 converged, 1 failed, 9 pending`."""
    states = Counter(sim.state for sim in canary.sims)
    paths = len({sim.path for sim in canary.sims})
    told = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    return f"canary {len(canary.sims)} SIMs, {paths} paths: {told or 'none'}"


def plan_row_line(row: PlanRow) -> str:
    """One row of the dry run's full listing (`--show-all`), its ICCID masked."""
    where = f"row {row.row_no}" + (f" (line {row.line_no})" if row.line_no else "")
    if row.invalid_reason is None:
        return mask_iccids(f"{where} {row.reference}: {row.change}")
    code = f" [{row.invalid_code}]" if row.invalid_code is not None else ""
    return mask_iccids(f"{where} {row.reference}: {INVALID}{code}, {row.invalid_reason}")


def write_plan_csv(rows: Iterable[PlanRow], out: TextIO) -> int:
    """Every row of the dry run as CSV (`-o csv`), streamed, as the report writes its cells."""
    writer = _csv_writer(out)
    writer.writerow(PLAN_CSV_COLUMNS)
    written = 0
    for row in rows:
        plan = row.change if row.invalid_reason is None else INVALID
        cells = (row.row_no, row.line_no, row.reference, row.sim_sid, plan, row.invalid_code)
        writer.writerow([csv_safe(_cell(cell)) for cell in (*cells, row.invalid_reason)])
        written += 1
    return written
