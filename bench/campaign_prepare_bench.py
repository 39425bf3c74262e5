"""Benchmark of campaign preparation: reading the file, the snapshot, validation, the report.

Runs an emulator in its own process seeded with `--account-sims` Sims (default: `--sims`,
1,000,000), of which the campaign's file names the first `--sims`, and prints:
- reading a campaign file of that many ICCIDs (rows per second, peak traced memory);
- preparing the campaign (import, snapshot by listing the account, validation): seconds per
  stage, rows per second overall, the CPU seconds of this process and of the emulator meanwhile
  (steadier than seconds on a shared host), the store's size on disk, and this process's RSS before
  preparing and its peak while preparing (VmHWM reset just before; the preparation runs here
  as in a worker, the emulator in a process of its own), also by the end of each stage;
- the store afterwards: `counts()`, `planned_rows(…, 250)` in the middle, a CSV report written
  to a file;
- the lookup decision: `--small` rows (default 2,000) prepared as simops decides (list the
  account until lookups would have been quicker, then look up), and forced each way
  (`--small 0`: not run).

Usage: .venv/bin/python -m bench.campaign_prepare_bench [--sims 1000000] [--small 2000]
    [--account-sims N]

`simops dev --seed-sims` for `bench.million_bench` holds 2,110,200 SIMs, and its million-row
campaign lists them all: `--account-sims 2110200` prepares as that campaign does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from simops.campaigns.preparer import CampaignPreparer
from simops.campaigns.reports import write_report
from simops.campaigns.sources import iter_source_rows
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.campaigns.store.campaign_store import CampaignStore
from simops.emulator.ids import iccid_for
from simops.emulator.process import EmulatorProcess, spawn_emulator_process
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from tests.helpers.process_stack import cpu_seconds, peak_rss_mib, reset_peak_rss, rss_mib

DEFAULT_API_MAX_RPS: float = SimopsSettings.model_fields["api_max_rps"].default
"""simops' own pacing of the API, which `--api-max-rps` overrides."""


def write_campaign_file(path: Path, rows: int) -> None:
    """A CSV of `rows` seeded ICCIDs, every 1000th with a mistyped check digit."""
    with path.open("w") as out:
        out.write("iccid\n")
        for serial in range(rows):
            iccid = iccid_for(serial)
            if serial % 1000 == 999:
                iccid = iccid[:-1] + str((int(iccid[-1]) + 1) % 10)
            out.write(iccid + "\n")


def bench_reading(path: Path, rows: int) -> None:
    """Rows per second of `iter_source_rows`, then its peak traced memory (a slower pass)."""
    started = time.perf_counter()
    count = sum(1 for _ in iter_source_rows(path))
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    sum(1 for _ in iter_source_rows(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == rows
    print(f"reading {rows:,} rows: {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s)")
    print(f"  peak traced memory while reading: {peak / 1024 / 1024:.1f} MiB")


class StageClock:
    """Seconds spent in each stage, and this process's peak RSS by the end of each, from the
    progress reports."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.last = self.started
        self.stages: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    def __call__(self, stage: str, done: int) -> None:
        """Add the time since the last call to `stage`, and note the peak RSS so far."""
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - self.last
        self.peaks[stage] = peak_rss_mib(os.getpid())
        self.last = now


def settings_for(
    emulator: EmulatorProcess, directory: Path, api_max_rps: float = DEFAULT_API_MAX_RPS
) -> SimopsSettings:
    """The emulator's parent account, paced at `api_max_rps` (simops' default: 100)."""
    return SimopsSettings(
        _env_file=None,
        api_url=emulator.api_url,
        api_max_rps=api_max_rps,
        twilio_account_sid=emulator.parent.account_sid,
        twilio_auth_token=emulator.parent.auth_token,
        campaign_dir=directory,
    )


async def prepare(
    client: SuperSimClient,
    settings: SimopsSettings,
    campaign_id: str,
    source: Path,
    estimate_rps: float | None = None,
) -> tuple[CampaignStore, float, StageClock]:
    """Prepare a campaign of the emulator's SIMs, timing each stage."""
    spec = CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name=source.name),
        fleet="default",
    )
    store = CampaignStore.create(settings.campaign_dir, spec, source)
    clock = StageClock()
    started = time.perf_counter()
    # The rate the lookup estimate assumes; the client's real pacing stays at `settings`'.
    if estimate_rps is not None:
        settings = settings.model_copy(update={"api_max_rps": estimate_rps})
    await CampaignPreparer(client, settings, store, on_progress=clock).run()
    return store, time.perf_counter() - started, clock


def bench_store(store: CampaignStore, directory: Path) -> None:
    """Time the store's reads of a prepared campaign."""
    rows = store.row_count()
    started = time.perf_counter()
    counts = store.counts()
    counted = time.perf_counter() - started
    started = time.perf_counter()
    planned = store.planned_rows(rows // 2, 250)
    planning = time.perf_counter() - started
    report = directory / "report.csv"
    started = time.perf_counter()
    with report.open("w") as out:
        written = write_report(store.report_rows(), out, "csv")
    reporting = time.perf_counter() - started
    assert written == rows and len(planned) == 250 and sum(counts.values()) == rows
    print(f"  counts(): {counted * 1000:.0f} ms; planned_rows(mid, 250): {planning * 1000:.1f} ms")
    print(
        f"  CSV report of {written:,} rows: {reporting:.1f} s "
        f"({written / reporting:,.0f} rows/s, {report.stat().st_size / 1024 / 1024:.0f} MiB)"
    )


async def main(sims: int, small: int, account_sims: int, api_max_rps: float) -> None:
    """Run the benchmark and print its figures."""
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        source = directory / "campaign.csv"
        write_campaign_file(source, sims)
        bench_reading(source, sims)
        emulator = await spawn_emulator_process(["--seed-sims", str(max(sims, account_sims))])
        try:
            settings = settings_for(emulator, directory / "campaigns", api_max_rps)
            async with SuperSimClient(settings) as client:
                rss_before = rss_mib(os.getpid())
                reset = reset_peak_rss(os.getpid())
                cpu_before = cpu_seconds(os.getpid()), cpu_seconds(emulator.pid)
                store, elapsed, clock = await prepare(client, settings, "large", source)
                peak = peak_rss_mib(os.getpid())
                own_cpu = cpu_seconds(os.getpid()) - cpu_before[0]
                emulator_cpu = cpu_seconds(emulator.pid) - cpu_before[1]
                result = store.preparation.result()
                assert result is not None
                files = (directory / "campaigns" / "large").rglob("*")
                size = sum(f.stat().st_size for f in files if f.is_file())
                print(
                    f"preparing {sims:,} rows (account of {max(sims, account_sims):,} SIMs listed, "
                    f"{settings.api_max_rps:.0f} req/s budget): {elapsed:.1f} s "
                    f"({sims / elapsed:,.0f} rows/s)"
                )
                print("  " + ", ".join(f"{name} {sec:.1f} s" for name, sec in clock.stages.items()))
                print(
                    f"  CPU while preparing: this process {own_cpu:.1f} s (every thread), the "
                    f"emulator {emulator_cpu:.1f} s"
                )
                print(
                    f"  valid {result.valid:,}, invalid {result.invalid:,}; store "
                    f"{size / 1024 / 1024:.0f} MiB on disk"
                )
                print(
                    f"  this process's RSS {rss_before:.0f} MiB before preparing, peak RSS "
                    f"{peak:.0f} MiB while preparing ("
                    + ("" if reset else "not reset: since the process started; ")
                    + "by the end of each stage: "
                    + ", ".join(f"{name} {mib:.0f}" for name, mib in clock.peaks.items())
                    + ")"
                )
                bench_store(store, directory)
                store.close()
                if small == 0:
                    return
                small_source = directory / "small.csv"
                write_campaign_file(small_source, small)
                runs = [
                    ("as simops decides", "small", None),
                    ("lookups (after one page)", "small-lookups", 1e9),
                    ("listing the account", "small-listed", 1e-9),
                ]
                print(f"{small:,} rows in an account of {max(sims, account_sims):,}:")
                reports = []
                for label, campaign_id, rps in runs:
                    small_store, seconds, small_clock = await prepare(
                        client, settings, campaign_id, small_source, rps
                    )
                    reports.append(list(small_store.report_rows()))
                    stages = ", ".join(f"{k} {v:.1f} s" for k, v in small_clock.stages.items())
                    print(f"  {label}: {seconds:.1f} s ({stages})")
                assert reports[0] == reports[1] == reports[2]
        finally:
            await emulator.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument(
        "--account-sims", type=int, default=0, help="SIMs the account holds (default: --sims)"
    )
    parser.add_argument(
        "--api-max-rps",
        type=float,
        default=DEFAULT_API_MAX_RPS,
        help="the client's pacing (default: simops' 100; `simops dev` sets 5000)",
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(arguments.sims, arguments.small, arguments.account_sims, arguments.api_max_rps)
    )
