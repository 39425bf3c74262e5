"""`simops campaign start --dry-run` on a live emulator: counts by change and by reason, every row
on request, errors that name the user's file, and the schedule."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import Result

from simops.emulator.server import RunningEmulator
from tests.helpers.processes import api_settings
from tests.helpers.stacks import invoke_cli

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("isolated")]

UNKNOWN_ROWS = 1000


async def dry_run(emulator: RunningEmulator, source: Path, *options: str) -> Result:
    """`simops campaign start --action activate --from-file SOURCE --dry-run OPTIONS`."""
    env = api_settings(emulator.api_url, emulator.parent, source.parent / "campaigns")
    arguments = ["campaign", "start", "--action", "activate", "--from-file", str(source)]
    arguments += ["--fleet", "default", "--dry-run", *options]
    return await invoke_cli(*arguments, env=env)


@pytest.fixture
def mostly_unknown(tmp_path: Path, emulator: RunningEmulator) -> Path:
    """Every seeded SIM, then 1,000 SIDs no account has, then a duplicate of row 1."""
    sids = [f"HS{n:032x}" for n in range(1, UNKNOWN_ROWS + 1)]
    known = list(emulator.context.store.sims)
    path = tmp_path / "sims.csv"
    path.write_text("\n".join(["sim", *known, *sids, known[0]]) + "\n")
    return path


async def test_counts_by_change_and_by_reason_with_the_first_rows(
    emulator: RunningEmulator, mostly_unknown: Path
) -> None:
    result = await dry_run(emulator, mostly_unknown)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) < 12, result.stdout
    seeded = len(emulator.context.store.sims)
    first_unknown = seeded + 1
    assert any(
        line.strip().startswith(f"{UNKNOWN_ROWS:,}  no SIM with this SID in the account [20404]")
        and f"(rows {', '.join(str(first_unknown + n) for n in range(5))}, …)" in line
        for line in lines
    ), result.stdout
    assert any("duplicate of row N (the same SIM) [20001] (row" in line for line in lines)
    assert any(line.strip().startswith(f"{seeded:,}  new → active") for line in lines)


async def test_show_all_and_csv_list_every_row(
    emulator: RunningEmulator, mostly_unknown: Path
) -> None:
    rows = len(mostly_unknown.read_text().splitlines()) - 1

    every = await dry_run(emulator, mostly_unknown, "--show-all")
    as_csv = await dry_run(emulator, mostly_unknown, "-o", "csv")

    assert every.exit_code == 0 and as_csv.exit_code == 0, every.output + as_csv.output
    listed = [line for line in every.stdout.splitlines() if line.startswith("  row ")]
    assert len(listed) == rows
    read = list(csv.DictReader(io.StringIO(as_csv.stdout, newline="")))
    assert [int(row["row_no"]) for row in read] == list(range(1, rows + 1))
    assert {row["plan"].split(",")[0] for row in read} == {"invalid", "new → active"}
    assert "invalid (1,001 rows), by reason:" in as_csv.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "is empty"), (b"sim\n", "has a header line but no rows"), (b"\x00\x01", "NUL")],
)
async def test_a_bad_file_is_named_as_the_user_gave_it(
    emulator: RunningEmulator, tmp_path: Path, content: bytes, problem: str
) -> None:
    source = tmp_path / "launch.csv"
    source.write_bytes(content)

    result = await dry_run(emulator, source)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {source}: "), result.stderr
    assert problem in result.stderr and "simops-dry-run" not in result.stderr
    assert result.stderr.endswith("\n")


async def test_the_dry_run_prints_the_schedule(emulator: RunningEmulator, tmp_path: Path) -> None:
    sims = tmp_path / "sims.csv"
    sims.write_text("\n".join(["sim", *emulator.context.store.sims]) + "\n")

    # 2099-06-05 is a Friday; the first window after the start is Monday's, in summer time.
    result = await dry_run(
        emulator,
        sims,
        *("--start-at", "2099-06-05T06:00:00+02:00", "--end-at", "2099-06-30T00:00:00Z"),
        *("--window", "mon-fri 1:00-5:00", "--timezone", "Europe/Berlin"),
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-4:] == [
        "schedule: time zone Europe/Berlin; windows: Mon-Fri 01:00-05:00",
        "  start: 2099-06-05 04:00:00 UTC (Fri 2099-06-05 06:00:00 CEST, Europe/Berlin)",
        "  end: 2099-06-30 00:00:00 UTC (Tue 2099-06-30 02:00:00 CEST, Europe/Berlin)",
        "  next opening: 2099-06-07 23:00:00 UTC (Mon 2099-06-08 01:00:00 CEST, Europe/Berlin)",
    ], result.stdout
