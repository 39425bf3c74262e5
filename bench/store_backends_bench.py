"""Campaign throughput and the campaign store's statements per SIM, SQLite against PostgreSQL,
on the same stack: dev server, emulator, ingress and two workers as on machines of their own
(tests/helpers/machines.py), the campaigns started from a third directory.

    .venv/bin/python -m bench.store_backends_bench [--sims 10000] [--runs 2] [--warm-up-sims 200]

With SQLite both workers use the stack's campaign directory (they must: a campaign is a file);
with PostgreSQL (a `pgserver` wheel's, over its unix socket, a new database per run) each has a
directory of its own and they share only the database. Each run is a new stack; the backends
take turns (SQLite then PostgreSQL, then PostgreSQL then SQLite…) so that the host's speed,
which varies from minute to minute, weighs on both alike.

A run: a warm-up campaign (a new worker's first workflow tasks pay for its imports), then one
`simops campaign start --action activate --from-file … --watch`, timed from the command to its
exit as bench/dev_bench.py times it (`--watch` polls once a second). Printed per run and per
backend: SIMs/s; the store's statements per SIM, by kind (`simops_store_statements_total` summed
over both workers' /metrics, read before the stack stops, less its value after the warm-up); the
workers' CPU per SIM; and for PostgreSQL the server's own count of committed transactions per
SIM (`pg_stat_database.xact_commit`: each statement outside an explicit transaction is one), a
cross-check that also counts the `simops` commands' few statements.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.dev_bench import campaign
from tests.helpers.machines import start_machines, store_statements
from tests.helpers.postgres_server import (
    committed_transactions,
    fresh_database,
    postgres_server,
    wait_for_sessions_to_end,
)
from tests.helpers.process_stack import cpu_seconds, new_sims, process_stack

BACKENDS = ("sqlite", "postgresql")
EMULATOR = ["--scheduled-delay", "1"]
"""bench/dev_bench.py's emulator: each write's `scheduled` resolves after 1 s."""
STATISTICS_SETTLE_SECONDS = 11.0
"""A PostgreSQL backend that went idle reports its transaction counts within 10 s
(PGSTAT_IDLE_INTERVAL): the wait after the warm-up, before the count is read, so that the
warm-up is not counted in the measured campaign's. Both backends' runs wait alike."""


@dataclass
class Run:
    """One measured campaign."""

    backend: str
    sims: int
    """SIMs converged."""
    seconds: float
    """From `campaign start` to its exit (the campaign completed)."""
    workflow_seconds: float
    statements: Counter[str]
    """Statements the workers sent to the store, by kind."""
    worker_cpu_seconds: float
    transactions: int | None
    """Transactions PostgreSQL committed in the campaign's database (`None`: SQLite)."""

    @property
    def rate(self) -> float:
        """SIMs per second, as a user waits."""
        return self.sims / self.seconds


@contextmanager
def database(backend: str, server: str | None) -> Iterator[str | None]:
    """A new database on the server for a PostgreSQL run, dropped after it; `None` for
    SQLite."""
    if backend == "sqlite":
        yield None
        return
    assert server is not None
    with fresh_database(server, "bench") as url:
        yield url


async def measure(backend: str, server: str | None, sims: int, warm_up_sims: int) -> Run:
    """One run of `backend` on a new stack."""
    with (
        tempfile.TemporaryDirectory(prefix="simops-stores-") as scratch,
        database(backend, server) as url,
    ):
        args = [*EMULATOR, "--seed-sims", str(warm_up_sims + sims)]
        async with process_stack(Path(scratch), args, workers=0) as stack:
            machines = await start_machines(stack, url)
            operator = machines.operator
            sids = await new_sims(stack, warm_up_sims + sims)
            if warm_up_sims:
                await campaign(operator, "warm-up", sids[:warm_up_sims])
            await asyncio.sleep(STATISTICS_SETTLE_SECONDS)
            transactions_before = committed_transactions(url) if url is not None else 0
            statements_before = await store_statements(machines.metrics_urls)
            workers = [worker.pid for worker in stack.workers]
            cpu_before = sum(cpu_seconds(pid) for pid in workers)
            timed = await campaign(operator, "bench", sids[warm_up_sims:])
            worker_cpu = sum(cpu_seconds(pid) for pid in workers) - cpu_before
            statements = await store_statements(machines.metrics_urls) - statements_before
        transactions = None
        if url is not None:
            # The workers exited with the stack; their sessions' last counts come as they end.
            wait_for_sessions_to_end(url)
            transactions = committed_transactions(url) - transactions_before
    by_kind: Counter[str] = Counter()
    for (_, kind), count in statements.items():
        by_kind[kind] += count
    return Run(
        backend=backend,
        sims=timed.counts.get("converged", 0),
        seconds=timed.command_seconds,
        workflow_seconds=timed.workflow_seconds,
        statements=by_kind,
        worker_cpu_seconds=worker_cpu,
        transactions=transactions,
    )


def describe(run: Run) -> str:
    """One run on one line."""
    statements = sum(run.statements.values())
    line = (
        f"{run.backend:<10} {run.sims:,} SIMs in {run.seconds:.1f} s: {run.rate:,.0f} SIMs/s "
        f"(workflow {run.workflow_seconds:.1f} s); store statements {statements / run.sims:.2f} "
        f"per SIM; workers' CPU {run.worker_cpu_seconds * 1000 / run.sims:.2f} ms per SIM"
    )
    if run.transactions is not None:
        line += f"; PostgreSQL transactions {run.transactions / run.sims:.2f} per SIM"
    return line


def summary(runs: list[Run]) -> str:
    """Per backend: the median rate, and statements per SIM over every run, by kind."""
    lines = [
        "| backend | SIMs/s (median) | each run | store statements per SIM | by kind "
        "| PostgreSQL transactions per SIM |",
        "| --- " * 6 + "|",
    ]
    for backend in BACKENDS:
        mine = [run for run in runs if run.backend == backend]
        if not mine:
            continue
        sims = sum(run.sims for run in mine)
        kinds: Counter[str] = sum((run.statements for run in mine), Counter())
        by_kind = ", ".join(f"{kind} {count / sims:.2f}" for kind, count in kinds.most_common())
        transactions = [run.transactions for run in mine if run.transactions is not None]
        lines.append(
            f"| {backend} | {statistics.median(run.rate for run in mine):,.0f} "
            f"| {', '.join(f'{run.rate:,.0f}' for run in mine)} "
            f"| {sum(kinds.values()) / sims:.2f} | {by_kind} "
            f"| {f'{sum(transactions) / sims:.2f}' if transactions else '-'} |"
        )
    return "\n".join(lines)


def order(runs: int) -> list[str]:
    """The backends' turns: SQLite first in even runs, PostgreSQL first in odd ones."""
    return [
        backend
        for number in range(runs)
        for backend in (BACKENDS if number % 2 == 0 else BACKENDS[::-1])
    ]


async def main(args: argparse.Namespace) -> None:
    """Start PostgreSQL, run each backend `args.runs` times in turn, print every figure."""
    with ExitStack() as resources:
        scratch = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="simops-pg-")))
        server = resources.enter_context(postgres_server(scratch / "data"))
        results = []
        for backend in order(args.runs):
            run = await measure(backend, server, args.sims, args.warm_up_sims)
            print(describe(run), flush=True)
            results.append(run)
    print()
    print(summary(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2, help="per backend")
    parser.add_argument("--warm-up-sims", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
