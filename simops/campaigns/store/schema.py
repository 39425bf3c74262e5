"""The campaign store's schema, as numbered migrations both backends apply in order.

One schema serves SQLite (a file per campaign) and PostgreSQL (every campaign in one
database): every table's key starts with the campaign ID, so the same statements run on both.
A migration is a list of statements in the SQL both understand; `{blob}` stands for the one type
they spell differently. A database records the migrations applied in `simops_schema`; a
migration is never edited once released, only followed by another.

Rows keep a SIM's state as plain columns, its path (`path`: the kinds of the calls it needs,
empty when none; `NULL` in rows prepared before migration 2), and a row's plan (desired state,
the statuses it applies to, the change for the dry run) once per distinct plan in `plans`: a
million rows mostly share a handful of plans.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its number, what it does, and its statements."""

    version: int
    description: str
    statements: tuple[str, ...]


VERSION_TABLE = "CREATE TABLE IF NOT EXISTS simops_schema (version INTEGER NOT NULL)"
"""Where a database records the last migration applied (one row; none: nothing applied)."""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "campaign-keyed tables: campaigns, their source files, rows, plans, outcomes, the "
        "snapshot preparation takes, SIMs in progress, billing periods and pacing leases",
        (
            "CREATE TABLE campaigns (campaign_id TEXT PRIMARY KEY, spec TEXT NOT NULL, "
            "created_at TEXT NOT NULL)",
            "CREATE TABLE meta (campaign_id TEXT NOT NULL, key TEXT NOT NULL, "
            "value TEXT NOT NULL, PRIMARY KEY (campaign_id, key))",
            "CREATE TABLE source_chunks (campaign_id TEXT NOT NULL, chunk_no INTEGER NOT NULL, "
            "content {blob} NOT NULL, PRIMARY KEY (campaign_id, chunk_no))",
            "CREATE TABLE plans (campaign_id TEXT NOT NULL, plan_id INTEGER NOT NULL, "
            "desired TEXT NOT NULL, from_statuses TEXT NOT NULL, change TEXT NOT NULL, "
            "PRIMARY KEY (campaign_id, plan_id), "
            "UNIQUE (campaign_id, desired, from_statuses, change))",
            "CREATE TABLE rows (campaign_id TEXT NOT NULL, row_no BIGINT NOT NULL, "
            "line_no BIGINT, reference TEXT NOT NULL, kind TEXT, fleet TEXT, unique_name TEXT, "
            "sim_sid TEXT, before_status TEXT, before_fleet TEXT, before_account TEXT, "
            "before_name TEXT, plan_id INTEGER, invalid_code INTEGER, invalid_reason TEXT, "
            "target_account TEXT, target_status TEXT, target_fleet TEXT, note TEXT, "
            "PRIMARY KEY (campaign_id, row_no))",
            "CREATE INDEX rows_by_sim ON rows (campaign_id, sim_sid) WHERE sim_sid IS NOT NULL",
            "CREATE INDEX rows_by_new_name ON rows (campaign_id, unique_name) "
            "WHERE unique_name IS NOT NULL",
            "CREATE TABLE outcomes (campaign_id TEXT NOT NULL, row_no BIGINT NOT NULL, "
            "sim_sid TEXT, outcome TEXT NOT NULL, code INTEGER, message TEXT, "
            "before_status TEXT, before_fleet TEXT, before_account TEXT, before_name TEXT, "
            "after_status TEXT, after_fleet TEXT, after_account TEXT, after_name TEXT, "
            "attempts INTEGER NOT NULL, started_at TEXT, finished_at TEXT, warning TEXT, "
            "writes INTEGER, restored INTEGER, out_of_service_seconds DOUBLE PRECISION, "
            "PRIMARY KEY (campaign_id, row_no))",
            "CREATE TABLE sims (campaign_id TEXT NOT NULL, sid TEXT NOT NULL, iccid TEXT, "
            "unique_name TEXT, status TEXT NOT NULL, fleet_sid TEXT, account_sid TEXT NOT NULL, "
            "PRIMARY KEY (campaign_id, sid))",
            "CREATE INDEX sims_by_iccid ON sims (campaign_id, iccid)",
            "CREATE INDEX sims_by_name ON sims (campaign_id, unique_name) "
            "WHERE unique_name IS NOT NULL",
            "CREATE TABLE names (campaign_id TEXT NOT NULL, name TEXT NOT NULL, sim_sid TEXT, "
            "PRIMARY KEY (campaign_id, name))",
            "CREATE TABLE fleets (campaign_id TEXT NOT NULL, sid TEXT NOT NULL, "
            "unique_name TEXT, account_sid TEXT, PRIMARY KEY (campaign_id, sid))",
            "CREATE TABLE billing_periods (campaign_id TEXT NOT NULL, row_no BIGINT NOT NULL, "
            "start_time TEXT, end_time TEXT, is_open INTEGER NOT NULL, "
            "PRIMARY KEY (campaign_id, row_no))",
            "CREATE TABLE in_progress (campaign_id TEXT NOT NULL, row_no BIGINT NOT NULL, "
            "sim_sid TEXT, tracked TEXT NOT NULL, PRIMARY KEY (campaign_id, row_no))",
            "CREATE TABLE pacing_leases (campaign_id TEXT NOT NULL, worker_id TEXT NOT NULL, "
            "running INTEGER NOT NULL, renewed_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (campaign_id, worker_id))",
        ),
    ),
    Migration(
        2,
        "each row's path (the kinds of the calls its SIM needs), so that the canary samples "
        "every path",
        (
            "ALTER TABLE rows ADD COLUMN path TEXT",
            "CREATE INDEX rows_by_path ON rows (campaign_id, path, row_no) WHERE path <> ''",
        ),
    ),
    Migration(
        3,
        "rows copied from an earlier campaign (a retry's, a rollback's) keep the row number "
        "they had there, for the report",
        ("ALTER TABLE rows ADD COLUMN source_row_no BIGINT",),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
