"""A chaos test that fails shows what its campaign and processes left, and leaves no process.

A failed test's report gets a "chaos diagnostics" section: the campaign's counts from its store
(the test's PostgreSQL database, if it has one) and the end of each process log (dev server,
emulator, workers, ingress), read from the test's `tmp_path`, where the stack keeps them. That
holds for a test pytest-timeout stopped, too; such a test never reached the end of its stack's
block, so its processes are killed at teardown.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from pluggy import Result

from simops.campaigns.store.backends import PostgresStores
from tests.helpers.chaos_scenarios import diagnostics
from tests.helpers.process_stack import kill_open_stacks


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    """Add the diagnostics to the report of a chaos test that failed."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    directory = funcargs.get("tmp_path")
    if report.when == "call" and report.failed and isinstance(directory, Path):
        # A test on PostgreSQL (`postgres_url`) keeps its campaigns in that database.
        url = funcargs.get("postgres_url")
        stores = PostgresStores(url) if isinstance(url, str) else None
        report.sections.append(("chaos diagnostics", diagnostics(directory, stores)))


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """Kill the processes of any stack the test left open."""
    yield
    kill_open_stacks()
