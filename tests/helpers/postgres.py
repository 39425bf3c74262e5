"""A real PostgreSQL for the tests: one server per test session, started from the `pgserver`
wheel (PostgreSQL 16, no system install), and a fresh database per test."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from simops.campaigns.store.backends import PostgresStores, SqliteStores, StoreBackend

BACKENDS = ("sqlite", "postgresql")


def database_url(server_url: str, database: str) -> str:
    """The server's URL naming another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server of this session (its `postgres` database)."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver is in the dev extra")
    with tempfile.TemporaryDirectory(prefix="simops-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "data", cleanup_mode="stop")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of an empty database of its own, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(postgres_server, name)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    """Each backend in turn: SQLite files under the test's directory, or an upgraded
    PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return SqliteStores(tmp_path / "campaigns")
    backend = PostgresStores(request.getfixturevalue("postgres_url"))
    backend.upgrade()
    return backend
