"""Benchmark of a campaign dry run: its time and its memory, for a file of `--rows` rows.

Runs an emulator in its own process seeded with `--rows` Sims, writes a campaign file of their
ICCIDs (every 1,000th with a mistyped check digit, every 500th an unknown unique name, and the
first 1,000 rows again at the end as duplicates: several invalid reasons, each thousands of
times), then runs `simops campaign start --dry-run` as a user would, in its own process, and
prints its wall time, its peak RSS (the process's, from the kernel) and the lines it printed.

Usage: .venv/bin/python -m bench.dry_run_bench [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from simops.emulator.ids import iccid_for
from simops.emulator.process import EmulatorProcess, spawn_emulator_process
from tests.helpers.processes import SIMOPS, api_settings, clean_environment

DUPLICATES = 1000


def write_campaign_file(path: Path, rows: int) -> int:
    """The campaign file described above; how many rows it has."""
    written = 0
    with path.open("w") as out:
        out.write("iccid\n")
        for serial in range(rows):
            iccid = iccid_for(serial)
            if serial % 1000 == 999:
                iccid = iccid[:-1] + str((int(iccid[-1]) + 1) % 10)
            elif serial % 500 == 499:
                iccid = f"device-{serial}"
            out.write(iccid + "\n")
            written += 1
        for serial in range(min(DUPLICATES, rows)):
            out.write(iccid_for(serial) + "\n")
            written += 1
    return written


def dry_run_environment(emulator: EmulatorProcess, directory: Path) -> dict[str, str]:
    """The emulator's parent account and the default pacing, nothing read from `.simops/env`."""
    return clean_environment() | api_settings(
        emulator.api_url, emulator.parent, directory / "campaigns"
    )


async def run(rows: int) -> None:
    """Seed, write the file, time the dry run and print what it measured."""
    with tempfile.TemporaryDirectory(prefix="dry-run-bench-") as scratch:
        directory = Path(scratch)
        started = time.perf_counter()
        emulator = await spawn_emulator_process(["--seed-sims", str(rows), "--seed", "1"])
        print(f"emulator seeded with {rows:,} SIMs in {time.perf_counter() - started:.1f} s")
        try:
            source = directory / "sims.csv"
            written = write_campaign_file(source, rows)
            size = source.stat().st_size / 1024 / 1024
            print(f"campaign file: {written:,} rows, {size:.1f} MiB")
            command = [*SIMOPS, "campaign", "start", "--action"]
            command += ["activate", "--from-file", str(source), "--fleet", "default", "--dry-run"]
            started = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=directory,
                env=dry_run_environment(emulator, directory),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
            elapsed = time.perf_counter() - started
            # The largest child waited for so far: the dry run's process is the only one yet.
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        finally:
            await emulator.stop()
    printed = out.decode()
    print(f"dry run of {written:,} rows: {elapsed:.1f} s, exit code {process.returncode}")
    print(f"  peak RSS of the dry run's process: {peak_kib / 1024:.0f} MiB")
    print(f"  printed {len(printed.splitlines())} lines:")
    print("\n".join(f"    {line}" for line in printed.splitlines()))
    if err:
        print(f"  stderr: {err.decode().strip()}")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.rows))


if __name__ == "__main__":
    main()
