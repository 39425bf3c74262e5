"""Where campaign stores live: a SQLite file per campaign under a directory (the embedded
default, what `simops dev` uses), or one PostgreSQL database for every campaign, which any
worker or CLI on any machine reaches with `SIMOPS_DATABASE_URL`.

A backend opens a campaign's connection, creates a campaign all at once (no process ever sees
half of one), lists the campaigns, and applies and checks the schema's migrations.
"""

from __future__ import annotations

import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from simops.campaigns.store.accounts import AccountStore
from simops.campaigns.store.database import (
    CampaignDatabase,
    Connection,
    check_schema,
    schema_version,
    upgrade_schema,
)
from simops.campaigns.store.errors import CampaignExistsError, CampaignNotFoundError
from simops.campaigns.store.legacy import LEGACY_SOURCE_DIR, adopt_legacy, is_legacy
from simops.runtime.settings import SimopsSettings

DATABASE_NAME = "campaign.sqlite"

CampaignWriter = Callable[[CampaignDatabase, Connection], None]
"""What fills a new campaign, inside the transaction that creates it."""


def is_safe_id(campaign_id: str) -> bool:
    """Whether the id names one directory inside the campaign directory, nothing else."""
    return (
        bool(campaign_id)
        and not campaign_id.startswith(".")
        and "\\" not in campaign_id
        and Path(campaign_id).name == campaign_id
    )


def _insert_campaign(
    database: CampaignDatabase, transaction: Connection, spec_json: str, fill: CampaignWriter
) -> None:
    inserted = transaction.execute(
        "INSERT INTO campaigns (campaign_id, spec, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (campaign_id) DO NOTHING",
        (database.campaign_id, spec_json, datetime.now().astimezone().isoformat()),
    )
    if inserted.rowcount == 0:
        raise CampaignExistsError(f"campaign {database.campaign_id} exists already")
    fill(database, transaction)


class StoreBackend(ABC):
    """Where campaign stores live."""

    @abstractmethod
    def describe(self) -> str:
        """Where, for a message (never a password)."""

    @abstractmethod
    def open(self, campaign_id: str) -> CampaignDatabase:
        """An existing campaign's database; `CampaignNotFoundError` if there is none,
        `SchemaBehindError` if its schema is older than this simops writes."""

    @abstractmethod
    def create(self, campaign_id: str, spec_json: str, fill: CampaignWriter) -> None:
        """Create a campaign with its spec, filled by `fill` in the same transaction;
        `CampaignExistsError` if the id is taken."""

    @abstractmethod
    def list_ids(self) -> list[str]:
        """The ids of every campaign, sorted."""

    @abstractmethod
    def upgrade(self) -> list[str]:
        """Apply the migrations every database lacks; what was done, one line each."""

    @abstractmethod
    def accounts(self) -> AccountStore:
        """The account tables (budgets, leases, running campaigns) beside the campaigns."""

    @abstractmethod
    def check(self) -> None:
        """Raise `SchemaBehindError` (or `SchemaAheadError`) unless every database has the
        schema this simops writes."""


class SqliteStores(StoreBackend):
    """A SQLite file per campaign, `DIRECTORY/ID/campaign.sqlite`: one machine's disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        """The directory."""
        return str(self.directory)

    def _path(self, campaign_id: str) -> Path:
        return self.directory / campaign_id / DATABASE_NAME

    def open(self, campaign_id: str) -> CampaignDatabase:
        """The campaign's file, opened; its schema checked."""
        path = self._path(campaign_id)
        if not is_safe_id(campaign_id) or not path.is_file():
            raise CampaignNotFoundError(f"no campaign {campaign_id} in {self.directory}")
        connection = Connection.sqlite(path)
        try:
            check_schema(connection, str(path))
        except Exception:
            connection.close()
            raise
        return CampaignDatabase(connection, campaign_id)

    def create(self, campaign_id: str, spec_json: str, fill: CampaignWriter) -> None:
        """Build the campaign's file aside, then rename its directory into place."""
        if not is_safe_id(campaign_id):
            raise ValueError(f"campaign id {campaign_id!r} cannot name a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / campaign_id
        if final.exists():
            raise CampaignExistsError(f"campaign {campaign_id} exists already")
        staging = self.directory / f".{campaign_id}.{uuid.uuid4().hex}.tmp"
        staging.mkdir()
        try:
            connection = Connection.sqlite(staging / DATABASE_NAME)
            try:
                # Before anything is written: the snapshot is deleted once used, and its pages
                # are then given back instead of staying in the file.
                connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
                upgrade_schema(connection)
                database = CampaignDatabase(connection, campaign_id)
                with connection.transaction(connection.dialect.begin_write) as transaction:
                    _insert_campaign(database, transaction, spec_json, fill)
            finally:
                connection.close()
            try:
                staging.rename(final)
            except OSError:
                raise CampaignExistsError(f"campaign {campaign_id} exists already") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def list_ids(self) -> list[str]:
        """The campaign directories holding a store."""
        if not self.directory.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.directory.iterdir()
            if is_safe_id(entry.name) and (entry / DATABASE_NAME).is_file()
        )

    def upgrade(self) -> list[str]:
        """Bring every campaign's file to the latest schema."""
        done: list[str] = []
        for campaign_id in self.list_ids():
            connection = Connection.sqlite(self._path(campaign_id))
            try:
                before = schema_version(connection)
                if before == 0 and is_legacy(connection):
                    source_dir = self.directory / campaign_id / LEGACY_SOURCE_DIR
                    adopted = adopt_legacy(connection, campaign_id, source_dir)
                    done.append(f"{campaign_id}: {adopted}")
                    # Adopting applies the first migration: the rest follow from there.
                    before = schema_version(connection)
                applied = upgrade_schema(connection)
            finally:
                connection.close()
            if applied:
                done.append(
                    f"{campaign_id}: schema {before} → {applied[-1].version} "
                    f"({', '.join(str(m.version) for m in applied)} applied)"
                )
        return done

    def check(self) -> None:
        """Check each campaign's file."""
        for campaign_id in self.list_ids():
            self.open(campaign_id).close()

    def accounts(self) -> AccountStore:
        """`accounts.sqlite` in the directory."""
        return AccountStore.sqlite(self.directory)


class PostgresStores(StoreBackend):
    """Every campaign in one PostgreSQL database, shared by the machines that run them."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> str:
        """The URL without its password."""
        return redact_url(self.url)

    def _connect(self) -> Connection:
        connection = Connection.postgresql(self.url)
        try:
            check_schema(connection, self.describe())
        except Exception:
            connection.close()
            raise
        return connection

    def open(self, campaign_id: str) -> CampaignDatabase:
        """A connection for the campaign, once it is known to exist."""
        connection = self._connect()
        found = connection.execute(
            "SELECT 1 FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ).fetchone()
        if found is None:
            connection.close()
            raise CampaignNotFoundError(f"no campaign {campaign_id} in {self.describe()}")
        return CampaignDatabase(connection, campaign_id)

    def create(self, campaign_id: str, spec_json: str, fill: CampaignWriter) -> None:
        """One transaction inserts the campaign and everything `fill` writes."""
        connection = self._connect()
        try:
            database = CampaignDatabase(connection, campaign_id)
            with connection.transaction(connection.dialect.begin_write) as transaction:
                _insert_campaign(database, transaction, spec_json, fill)
        finally:
            connection.close()

    def list_ids(self) -> list[str]:
        """The campaigns of the database."""
        connection = self._connect()
        try:
            cursor = connection.execute("SELECT campaign_id FROM campaigns ORDER BY campaign_id")
            return [campaign_id for (campaign_id,) in cursor]
        finally:
            connection.close()

    def upgrade(self) -> list[str]:
        """Apply the database's missing migrations (concurrent runs take turns)."""
        connection = Connection.postgresql(self.url)
        try:
            applied = upgrade_schema(connection)
        finally:
            connection.close()
        # Migrations are numbered without gaps: each one takes the schema from the one before.
        return [f"schema {m.version - 1} → {m.version}: {m.description}" for m in applied]

    def check(self) -> None:
        """Check the database's schema version."""
        self._connect().close()

    def accounts(self) -> AccountStore:
        """The account tables of the database."""
        return AccountStore.postgresql(self.url)


def redact_url(url: str) -> str:
    """A database URL with its password replaced by `***`."""
    return re.sub(r"(://[^:/@?]*:)[^@/?]*@", r"\1***@", url)


def store_backend(settings: SimopsSettings) -> StoreBackend:
    """The backend the settings choose: PostgreSQL when `SIMOPS_DATABASE_URL` is set, else a
    SQLite file per campaign under `SIMOPS_CAMPAIGN_DIR`."""
    if settings.database_url is not None:
        return PostgresStores(settings.database_url.get_secret_value())
    return SqliteStores(settings.campaign_dir)


def as_backend(where: StoreBackend | Path) -> StoreBackend:
    """A backend, a directory standing for SQLite files in it."""
    return where if isinstance(where, StoreBackend) else SqliteStores(where)
