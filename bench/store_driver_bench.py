"""Which PostgreSQL driver the campaign store should use: its hot operations timed through
psycopg 3 and asyncpg, each called from an asyncio program the way a worker calls the store.

    .venv/bin/python -m bench.store_driver_bench [--seconds 0.6] [--repeats 3] [--rows 10000]

Starts a PostgreSQL 16 of the `pgserver` wheel in a temporary directory (over its unix socket,
default settings, `fsync` and `synchronous_commit` on), with tables shaped like the store's hot
ones, keyed by campaign: `campaigns` (whose row is the per-campaign lock), `in_progress` and
`outcomes` (the SQLite store's columns, with timestamps and a boolean typed as PostgreSQL would
have them). `--rows` outcomes are loaded for the measured campaign and for each of three others.

The operations:

- commit: the journal's group commit (`CampaignStore.commit_journal`), one transaction that
  locks the campaign's row (`SELECT stop_reason … FOR UPDATE`), upserts K tracked SIMs into
  `in_progress`, deletes the M = K SIMs tracked by the previous commit from it and upserts
  their outcomes (inserts: each SIM ends once);
- counts: outcomes counted per kind for the campaign (`GROUP BY outcome`);
- range: 100 outcomes of consecutive rows, every column (a report's read).

The variants, every one called from a coroutine on the loop the worker runs (uvloop):

- psycopg sync, on loop: a synchronous connection called on the loop, as the SQLite store is
  called today (a reference: it blocks the loop for every commit);
- psycopg sync, thread: a synchronous connection used by one dedicated thread, each operation
  one hop there (`run_in_executor`), rows sent with `executemany`;
- psycopg async: `AsyncConnection`, rows sent with `executemany`;
- psycopg async, pipeline: the same, with the whole commit in one explicit pipeline (the stop
  reason is read once everything is sent: a store built this way must refuse first writes in
  SQL, or roll back and retry, when the campaign is found stopped);
- psycopg async, unnest: one statement per table with every column as an array parameter
  (`INSERT … SELECT * FROM unnest($2::bigint[], …)`), sent in binary (`%b`: as text, psycopg
  escapes every element of an array, which took eight times the CPU at K = 200);
- asyncpg: `executemany`;
- asyncpg, unnest: one statement per table, as above (plain statements, no COPY).

Each measurement runs one operation back to back for `--seconds` (reads for half of that),
after a few untimed ones, from a campaign reset to the same state; the variants take turns in
each repeat (in a rotating order), and the table gives each figure's median over `--repeats`.
Columns: operations per second; wall µs per row (per SIM of the commit, K tracked + M ended;
per row read); CPU µs per operation of this whole process (`time.process_time`, every thread:
the worker's CPU is what runs out on a 2-core host, the server's is not counted); and the
largest lateness of a 10 ms asyncio ticker running meanwhile (median of the repeats' largest,
and the largest of all), which shows whether the loop was blocked. The idle row is the ticker
alone: the host's noise floor.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import psycopg

from simops.campaigns.rows import TrackedSim
from simops.core.sim import DesiredState, SimSnapshot, SimStatus, SimUpdate
from simops.runtime import event_loop
from tests.helpers.postgres_server import start_server

T = TypeVar("T")

CAMPAIGN = "bench"
OTHER_CAMPAIGNS = ("other-1", "other-2", "other-3")
SIZES = (1, 20, 200)
"""K = M: SIMs tracked and SIMs ended per group commit."""
WINDOW = 12_000
"""Rows the commits cycle through (after the loaded ones): more than a measurement reaches."""
RANGE_ROWS = 100
WARM_UP = 5
TICK_SECONDS = 0.010

SCHEMA = """
CREATE TABLE campaigns (campaign_id TEXT PRIMARY KEY, stop_reason TEXT);
CREATE TABLE in_progress (
    campaign_id TEXT,
    row_no BIGINT,
    sim_sid TEXT,
    tracked TEXT NOT NULL,
    PRIMARY KEY (campaign_id, row_no)
);
CREATE TABLE outcomes (
    campaign_id TEXT,
    row_no BIGINT,
    sim_sid TEXT,
    outcome TEXT NOT NULL,
    code INTEGER,
    message TEXT,
    before_status TEXT,
    before_fleet TEXT,
    before_account TEXT,
    before_name TEXT,
    after_status TEXT,
    after_fleet TEXT,
    after_account TEXT,
    after_name TEXT,
    attempts INTEGER NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    warning TEXT,
    writes INTEGER,
    restored BOOLEAN,
    out_of_service_seconds DOUBLE PRECISION,
    PRIMARY KEY (campaign_id, row_no)
);
"""

OUTCOME_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row_no", "bigint"),
    ("sim_sid", "text"),
    ("outcome", "text"),
    ("code", "integer"),
    ("message", "text"),
    ("before_status", "text"),
    ("before_fleet", "text"),
    ("before_account", "text"),
    ("before_name", "text"),
    ("after_status", "text"),
    ("after_fleet", "text"),
    ("after_account", "text"),
    ("after_name", "text"),
    ("attempts", "integer"),
    ("started_at", "timestamptz"),
    ("finished_at", "timestamptz"),
    ("warning", "text"),
    ("writes", "integer"),
    ("restored", "boolean"),
    ("out_of_service_seconds", "double precision"),
)
"""An outcome's columns after its campaign id, with their types."""

_OUTCOME_NAMES = ", ".join(name for name, _ in OUTCOME_COLUMNS)
_OUTCOME_UPDATE = ", ".join(f"{name} = excluded.{name}" for name, _ in OUTCOME_COLUMNS[1:])
_TRACKED_UPDATE = "sim_sid = excluded.sim_sid, tracked = excluded.tracked"

LOCK = "SELECT stop_reason FROM campaigns WHERE campaign_id = $1 FOR UPDATE"
UPSERT_TRACKED = (
    "INSERT INTO in_progress (campaign_id, row_no, sim_sid, tracked) VALUES ($1, $2, $3, $4) "
    f"ON CONFLICT (campaign_id, row_no) DO UPDATE SET {_TRACKED_UPDATE}"
)
DELETE_ENDED = "DELETE FROM in_progress WHERE campaign_id = $1 AND row_no = ANY($2::bigint[])"
UPSERT_OUTCOME = (
    f"INSERT INTO outcomes (campaign_id, {_OUTCOME_NAMES}) VALUES "
    f"({', '.join(f'${number}' for number in range(1, len(OUTCOME_COLUMNS) + 2))}) "
    f"ON CONFLICT (campaign_id, row_no) DO UPDATE SET {_OUTCOME_UPDATE}"
)
UPSERT_TRACKED_UNNEST = (
    "INSERT INTO in_progress (campaign_id, row_no, sim_sid, tracked) "
    "SELECT $1::text, * FROM unnest($2::bigint[], $3::text[], $4::text[]) "
    f"ON CONFLICT (campaign_id, row_no) DO UPDATE SET {_TRACKED_UPDATE}"
)
UPSERT_OUTCOME_UNNEST = (
    f"INSERT INTO outcomes (campaign_id, {_OUTCOME_NAMES}) SELECT $1::text, * FROM unnest("
    + ", ".join(f"${number}::{kind}[]" for number, (_, kind) in enumerate(OUTCOME_COLUMNS, start=2))
    + f") ON CONFLICT (campaign_id, row_no) DO UPDATE SET {_OUTCOME_UPDATE}"
)
COUNTS = "SELECT outcome, count(*) FROM outcomes WHERE campaign_id = $1 GROUP BY outcome"
RANGE = (
    f"SELECT {_OUTCOME_NAMES} FROM outcomes "
    "WHERE campaign_id = $1 AND row_no BETWEEN $2 AND $3 ORDER BY row_no"
)


def psycopg_sql(sql: str, placeholder: str = "%s") -> str:
    """asyncpg's numbered placeholders as psycopg's (each is used once, in order); `%b` sends
    every parameter in binary."""
    return re.sub(r"\$\d+", placeholder, sql)


@dataclass(frozen=True)
class Batch:
    """What one group commit records, as rows and as columns (each driver takes one form)."""

    tracked: list[tuple[str, int, str, str]]
    ended: list[int]
    outcomes: list[tuple[Any, ...]]
    tracked_columns: list[list[Any]]
    outcome_columns: list[list[Any]]


def sim_sid(row_no: int) -> str:
    """A Super SIM SID for a row."""
    return f"HS{row_no:032x}"


def tracked_json(row_no: int) -> str:
    """A SIM in progress as the store keeps it: a `TrackedSim` with a write about to be sent."""
    before = SimSnapshot(
        sid=sim_sid(row_no),
        status=SimStatus.INACTIVE,
        fleet_sid=f"HF{1:032x}",
        account_sid=f"AC{1:032x}",
    )
    return TrackedSim(
        row_no=row_no,
        sim_sid=before.sid,
        desired=DesiredState(status=SimStatus.ACTIVE, fleet_sid=f"HF{2:032x}"),
        before=before,
        observed=before,
        attempts=1,
        started_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        pending_write=SimUpdate(status=SimStatus.ACTIVE, fleet=f"HF{2:032x}"),
    ).model_dump_json()


def outcome_row(campaign_id: str, row_no: int) -> tuple[Any, ...]:
    """An outcome as the store records it: mostly converged, one in ten failed."""
    started = datetime(2026, 12, 4, 12, 0, tzinfo=UTC) + timedelta(milliseconds=row_no)
    failed = row_no % 10 == 0
    return (
        campaign_id,
        row_no,
        sim_sid(row_no),
        "failed" if failed else "converged",
        20006 if failed else None,
        "Fleet not found" if failed else None,
        "inactive",
        f"HF{1:032x}",
        f"AC{1:032x}",
        None,
        "inactive" if failed else "active",
        f"HF{1 if failed else 2:032x}",
        f"AC{1:032x}",
        None,
        1 + failed,
        started,
        started + timedelta(seconds=1.5),
        None,
        0 if failed else 1,
        None,
        None,
    )


def batches(first_row: int, size: int) -> list[Batch]:
    """The group commits cycling through `WINDOW` rows from `first_row`, `size` SIMs each:
    each commit tracks `size` new SIMs and ends those the previous one tracked."""
    count = WINDOW // size
    rows = [list(range(first_row + n * size, first_row + (n + 1) * size)) for n in range(count)]
    result = []
    for n in range(count):
        tracked = [(CAMPAIGN, row_no, sim_sid(row_no), tracked_json(row_no)) for row_no in rows[n]]
        ended = rows[n - 1]
        outcomes = [outcome_row(CAMPAIGN, row_no) for row_no in ended]
        result.append(
            Batch(
                tracked=tracked,
                ended=ended,
                outcomes=outcomes,
                tracked_columns=[list(column) for column in zip(*tracked, strict=True)][1:],
                outcome_columns=[list(column) for column in zip(*outcomes, strict=True)][1:],
            )
        )
    return result


class Driver(ABC):
    """One way of reaching the store's database from the loop."""

    name: str

    @abstractmethod
    async def commit(self, batch: Batch) -> str | None:
        """One group commit; the campaign's stop reason."""

    @abstractmethod
    async def counts(self) -> int:
        """Count the campaign's outcomes per kind; how many kinds."""

    @abstractmethod
    async def read_range(self, first: int) -> int:
        """Read `RANGE_ROWS` outcomes from row `first`; how many."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection."""


class PsycopgSync(Driver):
    """A synchronous psycopg connection, called on the loop or on one dedicated thread."""

    def __init__(self, uri: str, *, threaded: bool) -> None:
        self.name = "psycopg sync, thread" if threaded else "psycopg sync, on loop"
        self._uri = uri
        self._executor = ThreadPoolExecutor(max_workers=1) if threaded else None
        self._connection: psycopg.Connection[Any] | None = None

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def open(self) -> None:
        """Connect (on the thread that will use the connection)."""
        self._connection = await self._call(partial(psycopg.connect, self._uri, autocommit=True))

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The open connection."""
        assert self._connection is not None
        return self._connection

    def _commit(self, batch: Batch) -> str | None:
        connection = self.connection
        with connection.transaction():
            row = connection.execute(psycopg_sql(LOCK), (CAMPAIGN,)).fetchone()
            with connection.cursor() as cursor:
                cursor.executemany(psycopg_sql(UPSERT_TRACKED), batch.tracked)
                cursor.execute(psycopg_sql(DELETE_ENDED), (CAMPAIGN, batch.ended))
                cursor.executemany(psycopg_sql(UPSERT_OUTCOME), batch.outcomes)
        return None if row is None else row[0]

    def _counts(self) -> int:
        return len(self.connection.execute(psycopg_sql(COUNTS), (CAMPAIGN,)).fetchall())

    def _read_range(self, first: int) -> int:
        parameters = (CAMPAIGN, first, first + RANGE_ROWS - 1)
        return len(self.connection.execute(psycopg_sql(RANGE), parameters).fetchall())

    async def commit(self, batch: Batch) -> str | None:
        """One group commit; the campaign's stop reason."""
        return await self._call(self._commit, batch)

    async def counts(self) -> int:
        """Count the campaign's outcomes per kind; how many kinds."""
        return await self._call(self._counts)

    async def read_range(self, first: int) -> int:
        """Read `RANGE_ROWS` outcomes from row `first`; how many."""
        return await self._call(self._read_range, first)

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        await self._call(self.connection.close)
        if self._executor is not None:
            self._executor.shutdown()


class PsycopgAsync(Driver):
    """psycopg's `AsyncConnection`: `executemany`, one pipeline, or array parameters."""

    def __init__(self, connection: psycopg.AsyncConnection[Any], mode: str) -> None:
        self.name = "psycopg async" + (f", {mode}" if mode != "executemany" else "")
        self._connection = connection
        self._mode = mode

    @classmethod
    async def connect(cls, uri: str, mode: str) -> PsycopgAsync:
        """A driver on a new connection; `mode` is executemany, pipeline or unnest."""
        return cls(await psycopg.AsyncConnection.connect(uri, autocommit=True), mode)

    async def commit(self, batch: Batch) -> str | None:
        """One group commit; the campaign's stop reason."""
        connection = self._connection
        if self._mode == "pipeline":
            async with connection.pipeline():
                async with connection.transaction():
                    lock = await connection.execute(psycopg_sql(LOCK), (CAMPAIGN,))
                    cursor = connection.cursor()
                    await cursor.executemany(psycopg_sql(UPSERT_TRACKED), batch.tracked)
                    await cursor.execute(psycopg_sql(DELETE_ENDED), (CAMPAIGN, batch.ended))
                    await cursor.executemany(psycopg_sql(UPSERT_OUTCOME), batch.outcomes)
                row = await lock.fetchone()
            return None if row is None else row[0]
        async with connection.transaction():
            row = await (await connection.execute(psycopg_sql(LOCK), (CAMPAIGN,))).fetchone()
            cursor = connection.cursor()
            if self._mode == "unnest":
                await cursor.execute(
                    psycopg_sql(UPSERT_TRACKED_UNNEST, "%b"), (CAMPAIGN, *batch.tracked_columns)
                )
                await cursor.execute(psycopg_sql(DELETE_ENDED), (CAMPAIGN, batch.ended))
                await cursor.execute(
                    psycopg_sql(UPSERT_OUTCOME_UNNEST, "%b"), (CAMPAIGN, *batch.outcome_columns)
                )
            else:
                await cursor.executemany(psycopg_sql(UPSERT_TRACKED), batch.tracked)
                await cursor.execute(psycopg_sql(DELETE_ENDED), (CAMPAIGN, batch.ended))
                await cursor.executemany(psycopg_sql(UPSERT_OUTCOME), batch.outcomes)
        return None if row is None else row[0]

    async def counts(self) -> int:
        """Count the campaign's outcomes per kind; how many kinds."""
        cursor = await self._connection.execute(psycopg_sql(COUNTS), (CAMPAIGN,))
        return len(await cursor.fetchall())

    async def read_range(self, first: int) -> int:
        """Read `RANGE_ROWS` outcomes from row `first`; how many."""
        parameters = (CAMPAIGN, first, first + RANGE_ROWS - 1)
        cursor = await self._connection.execute(psycopg_sql(RANGE), parameters)
        return len(await cursor.fetchall())

    async def close(self) -> None:
        """Close the connection."""
        await self._connection.close()


class Asyncpg(Driver):
    """asyncpg: `executemany`, or array parameters."""

    def __init__(self, connection: Any, *, unnest: bool) -> None:
        self.name = "asyncpg, unnest" if unnest else "asyncpg"
        self._connection = connection
        self._unnest = unnest

    @classmethod
    async def connect(cls, uri: str, *, unnest: bool) -> Asyncpg:
        """A driver on a new connection."""
        return cls(await asyncpg.connect(uri), unnest=unnest)

    async def commit(self, batch: Batch) -> str | None:
        """One group commit; the campaign's stop reason."""
        connection = self._connection
        async with connection.transaction():
            stop_reason: str | None = await connection.fetchval(LOCK, CAMPAIGN)
            if self._unnest:
                await connection.execute(UPSERT_TRACKED_UNNEST, CAMPAIGN, *batch.tracked_columns)
                await connection.execute(DELETE_ENDED, CAMPAIGN, batch.ended)
                await connection.execute(UPSERT_OUTCOME_UNNEST, CAMPAIGN, *batch.outcome_columns)
            else:
                await connection.executemany(UPSERT_TRACKED, batch.tracked)
                await connection.execute(DELETE_ENDED, CAMPAIGN, batch.ended)
                await connection.executemany(UPSERT_OUTCOME, batch.outcomes)
        return stop_reason

    async def counts(self) -> int:
        """Count the campaign's outcomes per kind; how many kinds."""
        return len(await self._connection.fetch(COUNTS, CAMPAIGN))

    async def read_range(self, first: int) -> int:
        """Read `RANGE_ROWS` outcomes from row `first`; how many."""
        return len(await self._connection.fetch(RANGE, CAMPAIGN, first, first + RANGE_ROWS - 1))

    async def close(self) -> None:
        """Close the connection."""
        await self._connection.close()


async def open_drivers(uri: str) -> list[Driver]:
    """One connection per variant."""
    drivers: list[Driver] = []
    for threaded in (False, True):
        sync = PsycopgSync(uri, threaded=threaded)
        await sync.open()
        drivers.append(sync)
    for mode in ("executemany", "pipeline", "unnest"):
        drivers.append(await PsycopgAsync.connect(uri, mode))
    for unnest in (False, True):
        drivers.append(await Asyncpg.connect(uri, unnest=unnest))
    return drivers


@dataclass(frozen=True)
class Sample:
    """One measurement of one variant and operation."""

    per_second: float
    us_per_row: float
    cpu_us: float
    loop_delay_ms: float


class Ticker:
    """A task waking every `TICK_SECONDS`; the largest lateness of its wake-ups."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        # The clock, not the loop's time: uvloop's is in whole milliseconds, cached per turn.
        while True:
            due = time.perf_counter() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            self.worst = max(self.worst, time.perf_counter() - due)

    def start(self) -> None:
        """Start ticking (from now on, lateness counts)."""
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> float:
        """Stop; the largest lateness in seconds."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.worst


async def measure(operation: Callable[[int], Awaitable[int]], seconds: float) -> Sample:
    """Run `operation(n)` (it returns the rows it handled) back to back for `seconds`, after
    `WARM_UP` untimed runs, with the ticker running; yield to the loop between runs as the
    journal does."""
    for number in range(WARM_UP):
        await operation(number)
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0)
    runs = rows = 0
    cpu_started, started = time.process_time(), time.perf_counter()
    while True:
        rows += await operation(WARM_UP + runs)
        runs += 1
        await asyncio.sleep(0)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    cpu = time.process_time() - cpu_started
    worst = await ticker.stop()
    return Sample(runs / elapsed, elapsed / max(rows, 1) * 1e6, cpu / runs * 1e6, worst * 1e3)


async def idle(seconds: float) -> Sample:
    """The ticker alone for `seconds`: how late it is on this host with nothing to do."""
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(seconds)
    return Sample(0.0, 0.0, 0.0, await ticker.stop() * 1e3)


async def load(admin: psycopg.AsyncConnection[Any], rows: int) -> None:
    """Create the tables and load `rows` outcomes for each campaign."""
    await admin.execute(SCHEMA)
    async with admin.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO campaigns (campaign_id) VALUES (%s)",
            [(campaign,) for campaign in (CAMPAIGN, *OTHER_CAMPAIGNS)],
        )
        copy_sql = f"COPY outcomes (campaign_id, {_OUTCOME_NAMES}) FROM STDIN"
        async with cursor.copy(copy_sql) as copy:
            for campaign in (CAMPAIGN, *OTHER_CAMPAIGNS):
                for row_no in range(1, rows + 1):
                    await copy.write_row(outcome_row(campaign, row_no))
    await admin.execute("VACUUM ANALYZE")


async def reset(admin: psycopg.AsyncConnection[Any], rows: int) -> None:
    """Take the campaign back to its loaded state: no SIM in progress, no outcome past `rows`."""
    await admin.execute("DELETE FROM in_progress WHERE campaign_id = %s", (CAMPAIGN,))
    await admin.execute(
        "DELETE FROM outcomes WHERE campaign_id = %s AND row_no > %s", (CAMPAIGN, rows)
    )
    await admin.execute("VACUUM in_progress, outcomes")


Key = tuple[str, str, str]
"""Operation, K, variant."""


async def bench(uri: str, rows: int, seconds: float, repeats: int) -> dict[Key, list[Sample]]:
    """Every measurement, `repeats` times each."""
    admin = await psycopg.AsyncConnection.connect(uri, autocommit=True)
    await load(admin, rows)
    drivers = await open_drivers(uri)
    rings = {size: batches(rows + 1, size) for size in SIZES}
    samples: dict[Key, list[Sample]] = {}
    try:
        for repeat in range(repeats):
            order = drivers[repeat % len(drivers) :] + drivers[: repeat % len(drivers)]
            samples.setdefault(("idle", "", "(ticker alone)"), []).append(await idle(seconds))
            for size, ring in rings.items():
                for driver in order:
                    await reset(admin, rows)

                    async def commit(
                        number: int, driver: Driver = driver, ring: list[Batch] = ring
                    ) -> int:
                        batch = ring[number % len(ring)]
                        await driver.commit(batch)
                        return len(batch.tracked) + len(batch.ended)

                    sample = await measure(commit, seconds)
                    samples.setdefault(("commit", str(size), driver.name), []).append(sample)
            for driver in order:

                async def counts(_number: int, driver: Driver = driver) -> int:
                    await driver.counts()
                    return 0

                async def read_range(number: int, driver: Driver = driver) -> int:
                    return await driver.read_range(number * RANGE_ROWS % (rows - RANGE_ROWS) + 1)

                sample = await measure(counts, seconds / 2)
                samples.setdefault(("counts", "", driver.name), []).append(sample)
                sample = await measure(read_range, seconds / 2)
                samples.setdefault(("range", str(RANGE_ROWS), driver.name), []).append(sample)
    finally:
        for driver in drivers:
            await driver.close()
        await admin.close()
    return samples


def print_table(samples: dict[Key, list[Sample]]) -> None:
    """Each figure's median over the repeats, and the worst loop delay of all."""
    header = (
        f"{'operation':9} {'K':>4}  {'variant':26} {'ops/s':>8} {'us/row':>8} "
        f"{'CPU us/op':>10} {'loop max ms':>11} {'worst':>6}"
    )
    print(header)
    print("-" * len(header))
    previous = None
    for (operation, size, variant), runs in samples.items():
        if previous is not None and previous != (operation, size):
            print()
        previous = (operation, size)
        delay = statistics.median(sample.loop_delay_ms for sample in runs)
        worst = max(sample.loop_delay_ms for sample in runs)
        if operation == "idle":
            figures = f"{'':8} {'':8} {'':10}"
        else:
            per_second = statistics.median(sample.per_second for sample in runs)
            per_row = statistics.median(sample.us_per_row for sample in runs)
            cpu = statistics.median(sample.cpu_us for sample in runs)
            row_figure = f"{per_row:8.1f}" if operation != "counts" else f"{'-':>8}"
            figures = f"{per_second:8.0f} {row_figure} {cpu:10.0f}"
        print(f"{operation:9} {size:>4}  {variant:26} {figures} {delay:11.1f} {worst:6.1f}")


def sorted_samples(samples: dict[Key, list[Sample]]) -> dict[Key, list[Sample]]:
    """Grouped by operation and K, in the order measured, variants in their listed order."""
    operations = ["idle", "commit", "counts", "range"]
    keys = sorted(
        samples,
        key=lambda key: (operations.index(key[0]), int(key[1] or 0)),
    )
    return {key: samples[key] for key in keys}


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments, start PostgreSQL, measure every variant, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="per commit measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000, help="outcomes per campaign")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        server = start_server(Path(scratch) / "pgdata")
        try:
            uri = server.get_uri()
            version = server.psql("SHOW server_version").splitlines()[2].strip()
            samples = event_loop.run(bench(uri, args.rows, args.seconds, args.repeats))
        finally:
            server.cleanup()
    print(
        f"PostgreSQL {version} (pgserver, unix socket), psycopg {psycopg.__version__}, "
        f"asyncpg {asyncpg.__version__}, loop {event_loop.loop_name()}; "
        f"median of {args.repeats} x {args.seconds:g} s; {time.monotonic() - started:.0f} s"
    )
    print_table(sorted_samples(samples))


if __name__ == "__main__":
    main()
