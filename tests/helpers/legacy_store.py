"""A campaign store as an early simops wrote it, before the schema had versions: what
`simops db upgrade` must adopt."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.core.sim import DesiredState

ACCOUNT = "AC" + "0" * 32
FLEET = "HF" + "1" * 32
ROWS = 12
INVALID_ROWS = {3, 7}
CAMPAIGN_ID = "spring-rollout"


def sid(row_no: int) -> str:
    """The SID of a row's SIM."""
    return f"HS{row_no:032x}"


def source_text(rows: int = ROWS) -> str:
    """The campaign's source file: one SID a line."""
    return "\n".join(sid(row_no) for row_no in range(1, rows + 1)) + "\n"


def legacy_spec() -> CampaignSpec:
    """The campaign's spec."""
    return CampaignSpec(
        campaign_id=CAMPAIGN_ID,
        action=CampaignAction.REACTIVATE,
        source=CampaignSource(file_name="sims.txt"),
        fleet=FLEET,
    )


LEGACY_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE plans (plan_id INTEGER PRIMARY KEY, desired TEXT NOT NULL,
    from_statuses TEXT NOT NULL, change TEXT NOT NULL, UNIQUE (desired, from_statuses, change));
CREATE TABLE rows (row_no INTEGER PRIMARY KEY, line_no INTEGER, reference TEXT NOT NULL,
    kind TEXT, fleet TEXT, unique_name TEXT, sim_sid TEXT, before_status TEXT,
    before_fleet TEXT, before_account TEXT, before_name TEXT, plan_id INTEGER,
    invalid_code INTEGER, invalid_reason TEXT);
CREATE TABLE outcomes (row_no INTEGER PRIMARY KEY, sim_sid TEXT, outcome TEXT NOT NULL,
    code INTEGER, message TEXT, before_status TEXT, before_fleet TEXT, before_account TEXT,
    before_name TEXT, after_status TEXT, after_fleet TEXT, after_account TEXT,
    after_name TEXT, attempts INTEGER NOT NULL, started_at TEXT, finished_at TEXT);
CREATE TABLE sims (sid TEXT PRIMARY KEY, iccid TEXT, unique_name TEXT, status TEXT NOT NULL,
    fleet_sid TEXT, account_sid TEXT NOT NULL);
CREATE INDEX sims_by_iccid ON sims (iccid);
CREATE TABLE names (name TEXT PRIMARY KEY, sim_sid TEXT);
CREATE TABLE fleets (sid TEXT PRIMARY KEY, unique_name TEXT, account_sid TEXT);
CREATE TABLE pacing_leases (worker_id TEXT PRIMARY KEY, running INTEGER NOT NULL,
    renewed_at REAL NOT NULL);
CREATE INDEX rows_by_sim ON rows (sim_sid) WHERE sim_sid IS NOT NULL;
"""
"""The tables of a store written by an early simops, before the schema had versions (before
the billing periods, SIMs in progress, and the columns added since)."""


def legacy_store(directory: Path) -> None:
    """Write a prepared campaign as an early simops did: one row converged, two invalid."""
    campaign = directory / CAMPAIGN_ID
    (campaign / "source").mkdir(parents=True)
    (campaign / "source" / "sims.txt").write_text(source_text())
    older = sqlite3.connect(campaign / "campaign.sqlite")
    older.executescript(LEGACY_SCHEMA)
    desired = DesiredState(status="active", fleet_sid=FLEET).model_dump_json()
    older.execute(
        "INSERT INTO plans VALUES (1, ?, '[\"inactive\"]', 'inactive → active')", (desired,)
    )
    for key, value in (("spec", legacy_spec().model_dump_json()), ("stage", "prepared")):
        older.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
    for n in range(1, ROWS + 1):
        invalid = n in INVALID_ROWS
        older.execute(
            "INSERT INTO rows (row_no, line_no, reference, kind, sim_sid, before_status, "
            "before_account, plan_id, invalid_code, invalid_reason) "
            "VALUES (?, ?, ?, 'sid', ?, 'inactive', ?, ?, ?, ?)",
            (
                n,
                n,
                sid(n),
                sid(n),
                ACCOUNT,
                None if invalid else 1,
                83010 if invalid else None,
                "not inactive" if invalid else None,
            ),
        )
    older.execute(
        "INSERT INTO outcomes (row_no, sim_sid, outcome, before_status, before_account, "
        "after_status, after_fleet, after_account, attempts) "
        "VALUES (1, ?, 'converged', 'inactive', ?, 'active', ?, ?, 1)",
        (sid(1), ACCOUNT, FLEET, ACCOUNT),
    )
    older.commit()
    older.close()
