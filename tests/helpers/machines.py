"""Workers as on machines of their own, which share one PostgreSQL database and nothing else.

`start_machines` starts `simops worker` processes on a stack (process_stack.py, started with no
worker), each in a working directory of its own, and makes a third directory, the operator's,
from which `simops` commands run (`processes.simops`). With a database URL the campaign store is
that PostgreSQL database: `simops db upgrade` runs first, from the operator's directory as a
user would, and each machine's campaign directory lies inside its own directory, so that nothing
can pass between machines through files. Without a URL every machine uses the stack's campaign
directory: SQLite files, which the workers of one campaign must share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from simops.runtime.ports import free_port
from tests.helpers.process_stack import ProcessStack
from tests.helpers.processes import CliStack, simops

OPERATOR = "operator"
"""The operator's directory, in the stack's: where `simops campaign …` runs."""
STORE_STATEMENTS = "simops_store_statements_total"


@dataclass(frozen=True)
class Machines:
    """The operator's machine and the workers' directories and metrics."""

    operator: CliStack
    """Where `simops` commands run, with the environment they get."""
    directories: list[Path]
    """Each worker's working directory, worker 1's first."""
    metrics_urls: list[str]
    """Each worker's `/metrics`, worker 1's first."""


def machine_environment(directory: Path, database_url: str | None) -> dict[str, str]:
    """The store settings of a machine in `directory`, over the stack's: with a URL, that
    database and a campaign directory of its own (which must stay unused); without one,
    nothing (the stack's campaign directory, shared)."""
    if database_url is None:
        return {}
    return {
        "SIMOPS_DATABASE_URL": database_url,
        "SIMOPS_CAMPAIGN_DIR": str(directory / "campaigns"),
    }


async def start_machines(
    stack: ProcessStack, database_url: str | None, workers: int = 2
) -> Machines:
    """Upgrade the database (with a URL), then start `workers` workers, each in a directory of
    its own and serving its metrics on a port of its own."""
    operator_directory = stack.directory / OPERATOR
    operator_directory.mkdir()
    operator = CliStack(
        operator_directory,
        {**stack.environment, **machine_environment(operator_directory, database_url)},
        stack.emulator.parent.fleets[0],
        stack.pids,
    )
    if database_url is not None:
        # Workers refuse to start on a schema that is behind.
        await simops(operator, "db", "upgrade")
    directories, metrics_urls = [], []
    for number in range(1, workers + 1):
        directory = stack.directory / f"machine-{number}"
        directory.mkdir()
        port = free_port()
        await stack.start_worker(
            cwd=directory,
            environment={
                **machine_environment(directory, database_url),
                "SIMOPS_METRICS_PORT": str(port),
            },
        )
        directories.append(directory)
        metrics_urls.append(f"http://127.0.0.1:{port}/metrics")
    return Machines(operator, directories, metrics_urls)


async def store_statements(metrics_urls: list[str]) -> Counter[tuple[str, str]]:
    """Statements the workers sent to the campaign store so far, by backend and kind, summed
    over every worker's `/metrics`."""
    counted: Counter[tuple[str, str]] = Counter()
    async with aiohttp.ClientSession() as session:
        for url in metrics_urls:
            async with session.get(url) as response:
                response.raise_for_status()
                text = await response.text()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == STORE_STATEMENTS:
                        key = (sample.labels["backend"], sample.labels["kind"])
                        counted[key] += int(sample.value)
    return counted
