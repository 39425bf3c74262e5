"""A real PostgreSQL for the tests: one server per test session, started from the `pgserver`
wheel (PostgreSQL 16, no system install), and a fresh database per test."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from simops.campaigns.store.backends import PostgresStores, SqliteStores, StoreBackend
from tests.helpers.postgres_server import fresh_database
from tests.helpers.postgres_server import postgres_server as start_postgres

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server of this session (its `postgres` database)."""
    pytest.importorskip("pgserver", reason="pgserver is in the dev extra")
    with (
        tempfile.TemporaryDirectory(prefix="simops-pg-") as directory,
        start_postgres(Path(directory) / "data") as url,
    ):
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of an empty database of its own, dropped after the test."""
    with fresh_database(postgres_server, "test") as url:
        yield url


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    """Each backend in turn: SQLite files under the test's directory, or an upgraded
    PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return SqliteStores(tmp_path / "campaigns")
    backend = PostgresStores(request.getfixturevalue("postgres_url"))
    backend.upgrade()
    return backend
