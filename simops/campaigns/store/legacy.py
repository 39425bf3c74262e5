"""Stores written before the schema had versions: a SQLite file per campaign whose tables had no
campaign ID, and its source file copied beside it. `simops db upgrade` adopts such a file in
place, in one transaction: its tables get their last unversioned shape, their rows move into the
campaign-keyed tables of migration 1, and the copied source file into the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from simops.campaigns.store.database import Connection
from simops.campaigns.store.schema import MIGRATIONS, VERSION_TABLE
from simops.campaigns.store.source_files import store_source

LEGACY_SOURCE_DIR = "source"

ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "rows": ("target_account TEXT", "target_status TEXT", "target_fleet TEXT", "note TEXT"),
    "outcomes": (
        "warning TEXT",
        "writes INTEGER",
        "restored INTEGER",
        "out_of_service_seconds REAL",
    ),
}
"""Columns unversioned stores gained over time: an older one gets them before it is adopted."""

ADDED_TABLES = {
    "billing_periods": "CREATE TABLE IF NOT EXISTS billing_periods (row_no INTEGER PRIMARY KEY, "
    "start_time TEXT, end_time TEXT, is_open INTEGER NOT NULL)",
    "in_progress": "CREATE TABLE IF NOT EXISTS in_progress (row_no INTEGER PRIMARY KEY, "
    "tracked TEXT NOT NULL)",
}
"""Tables unversioned stores gained over time."""

COPIED_TABLES = (
    "plans",
    "rows",
    "outcomes",
    "sims",
    "names",
    "fleets",
    "billing_periods",
    "in_progress",
)
"""The tables whose rows move (pacing leases are not kept: they expire within seconds)."""


def is_legacy(connection: Connection) -> bool:
    """Whether the SQLite file is an unversioned store (a `meta` table, no `campaigns`)."""
    tables = _tables(connection)
    return "meta" in tables and "campaigns" not in tables


def _tables(connection: Connection) -> set[str]:
    cursor = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in cursor}


def _columns(connection: Connection, table: str) -> list[str]:
    return [name for _, name, *_ in connection.execute(f"PRAGMA table_info({table})")]


def adopt_legacy(connection: Connection, campaign_id: str, source_dir: Path) -> str:
    """Move an unversioned store's rows and source file into migration 1's tables; a line
    saying what moved."""
    with connection.transaction("BEGIN IMMEDIATE") as transaction:
        spec_row = transaction.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        if spec_row is None:
            raise sqlite3.DatabaseError(f"campaign {campaign_id}: the store has no spec")
        tables = _tables(transaction)
        for table, create in ADDED_TABLES.items():
            if table not in tables:
                transaction.execute(create)
        for table, columns in ADDED_COLUMNS.items():
            present = set(_columns(transaction, table))
            for column in columns:
                if column.split()[0] not in present:
                    transaction.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        indexes = transaction.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        for (index,) in indexes:
            transaction.execute(f"DROP INDEX {index}")
        kept = {table: _columns(transaction, table) for table in (*COPIED_TABLES, "meta")}
        for table in (*COPIED_TABLES, "meta"):
            transaction.execute(f"ALTER TABLE {table} RENAME TO legacy_{table}")
        transaction.execute("DROP TABLE IF EXISTS pacing_leases")
        transaction.execute(VERSION_TABLE)
        first = MIGRATIONS[0]
        for statement in first.statements:
            transaction.execute(statement.format(blob="BLOB"))
        transaction.execute("INSERT INTO simops_schema (version) VALUES (?)", (first.version,))
        transaction.execute(
            "INSERT INTO campaigns (campaign_id, spec, created_at) VALUES (?, ?, datetime('now'))",
            (campaign_id, spec_row[0]),
        )
        transaction.execute(
            "INSERT INTO meta (campaign_id, key, value) SELECT ?, key, value FROM legacy_meta "
            "WHERE key != 'spec'",
            (campaign_id,),
        )
        moved = 0
        for table in COPIED_TABLES:
            names = ", ".join(kept[table])
            extra, values = ("", "")
            if table == "in_progress":
                extra, values = (", sim_sid", ", json_extract(tracked, '$.sim_sid')")
            cursor = transaction.execute(
                f"INSERT INTO {table} (campaign_id, {names}{extra}) "
                f"SELECT ?, {names}{values} FROM legacy_{table}",
                (campaign_id,),
            )
            moved += max(cursor.rowcount, 0) if table == "rows" else 0
        for table in (*COPIED_TABLES, "meta"):
            transaction.execute(f"DROP TABLE legacy_{table}")
        files = sorted(source_dir.iterdir()) if source_dir.is_dir() else []
        chunks = store_source(transaction, campaign_id, files[0]) if files else 0
    return f"adopted an unversioned store ({moved} rows, source file in {chunks} chunks)"
