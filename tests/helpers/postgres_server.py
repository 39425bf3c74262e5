"""A real PostgreSQL for the benchmarks, the chaos table and the tests: a server of the
`pgserver` wheel (PostgreSQL 16, no system install, over a unix socket), and databases of
their own on it, dropped after use.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


def start_server(directory: Path) -> PostgresServer:
    """A PostgreSQL server of the `pgserver` wheel with its data in `directory`."""
    with warnings.catch_warnings():
        # platformdirs warns (when pgserver is imported) that XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        return get_server(directory, cleanup_mode="stop")


@contextmanager
def postgres_server(directory: Path) -> Iterator[str]:
    """A server with its data in `directory`, stopped on exit: the URL of its `postgres`
    database."""
    server = start_server(directory)
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def database_url(server_url: str, database: str) -> str:
    """The server's URL naming another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on the server, dropped on exit (connections and all)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def committed_transactions(database: str) -> int:
    """Transactions the server committed in the database at `database` (a URL) so far, as its
    statistics say; each statement run outside an explicit transaction is one. A backend
    reports its counts at most once a second while busy, within 10 s once idle, and as it
    exits (`wait_for_sessions_to_end`)."""
    with psycopg.connect(database, autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_for_sessions_to_end(database: str, seconds: float = 30.0) -> None:
    """Wait until no other session is connected to the database at `database` (a URL): a
    backend leaves only after reporting its last counts, which its client's exit does not
    wait for."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(database, autocommit=True) as connection:
        while True:
            row = connection.execute(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{row[0] if row else '?'} sessions still connected")
            time.sleep(0.1)
