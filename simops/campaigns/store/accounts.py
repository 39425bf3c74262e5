"""What every process shares about an account: its API budget, who draws from it now, and which
of its campaigns may run.

It lives beside the campaigns, in the same backend: `accounts.sqlite` in the SQLite campaign
directory (one machine), or the PostgreSQL database every machine reaches. Its tables are
created when first opened (`CREATE TABLE IF NOT EXISTS`), so no campaign store needs upgrading
for them.

- `account_limits`: the budget `simops accounts set-limit` gave an account.
- `account_leases`: one row per process and party drawing from an account (a campaign's batch
  activities, or the process's one-SIM operations), renewed every half second while it draws.
  Leases are timed by the database's clock (hosts' clocks may disagree) and expire when not
  renewed: a process that dies gives its share back by itself.
- `account_campaigns`: the account's campaigns that are queued or running, in start order, for
  `SIMOPS_MAX_RUNNING_CAMPAIGNS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import ParamSpec, TypeVar

from simops.campaigns.store.database import SQLITE, UPGRADE_LOCK, Connection, has_table

ACCOUNTS_DATABASE = "accounts.sqlite"
"""The SQLite file of the account tables, in the campaign directory (no campaign has this name:
campaigns are directories)."""

_TABLES = (
    "CREATE TABLE IF NOT EXISTS account_limits (account TEXT PRIMARY KEY, "
    "rate DOUBLE PRECISION NOT NULL, concurrency INTEGER, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS account_leases (account TEXT NOT NULL, holder TEXT NOT NULL, "
    "party TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL, rate_cap DOUBLE PRECISION, "
    "concurrency_cap INTEGER, running INTEGER NOT NULL, demand_rate DOUBLE PRECISION, "
    "renewed_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (account, holder, party))",
    "CREATE TABLE IF NOT EXISTS account_campaigns (account TEXT NOT NULL, "
    "campaign_id TEXT NOT NULL, queued_at DOUBLE PRECISION NOT NULL, "
    "running INTEGER NOT NULL, PRIMARY KEY (account, campaign_id))",
)

QUEUE_LOCK = 0x51554555
"""PostgreSQL advisory lock class (with the account's hash) that makes `claim_slot`s of one
account take turns."""

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AccountLimit:
    """An account's API budget: requests per second, and requests in flight (`None`: no cap)."""

    account: str
    rate: float
    concurrency: int | None
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """One party drawing from an account in one process.

    `party` is a campaign ID, or `ONE_SIM_PARTY` for the process's one-SIM operations;
    `demand_rate` is `None` while the party has requests waiting (it could use more)."""

    holder: str
    party: str
    weight: float
    rate_cap: float | None
    concurrency_cap: int | None
    running: int
    demand_rate: float | None


ONE_SIM_PARTY = ""
"""The party of a process's one-SIM operations (no campaign ID is empty)."""


@dataclass(frozen=True, slots=True)
class SlotClaim:
    """Whether a campaign may run now under the account's cap on running campaigns; if not,
    how many queued campaigns are ahead of it (0: it is next)."""

    running: bool
    ahead: int


class AccountStore:
    """The account tables of a store backend, on one connection used by one thread at a time."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._thread: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # Status pages open the tables at every refresh: create them (a write) only once.
        if not has_table(connection, "account_campaigns"):
            dialect = connection.dialect
            lock = None if dialect is SQLITE else "SELECT pg_advisory_xact_lock(?)"
            # Concurrent `CREATE TABLE IF NOT EXISTS` races in PostgreSQL: take the upgrade lock.
            with connection.transaction(dialect.begin_write, lock, (UPGRADE_LOCK,)):
                for statement in _TABLES:
                    connection.execute(statement)

    @classmethod
    def sqlite(cls, directory: Path) -> AccountStore:
        """The account tables beside the SQLite campaign stores in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        return cls(Connection.sqlite(directory / ACCOUNTS_DATABASE))

    @classmethod
    def postgresql(cls, url: str) -> AccountStore:
        """The account tables in the PostgreSQL database of the campaign stores."""
        return cls(Connection.postgresql(url))

    def close(self) -> None:
        """Close the connection (and the thread `run` uses)."""
        if self._thread is not None:
            self._thread.shutdown(wait=False)
        self._connection.close()

    def __enter__(self) -> AccountStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)`, a method of this store, on the store's own thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accounts")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, partial(call, *args, **kwargs))

    @contextlib.contextmanager
    def _write(
        self, lock: str | None = None, parameters: Sequence[object] = ()
    ) -> Iterator[Connection]:
        with (
            self._lock,
            self._connection.transaction(
                self._connection.dialect.begin_write, lock, parameters
            ) as transaction,
        ):
            yield transaction

    def set_limit(self, account: str, rate: float, concurrency: int | None) -> AccountLimit:
        """Give `account` a budget (replacing any it had)."""
        if rate <= 0 or (concurrency is not None and concurrency < 1):
            raise ValueError("an account budget needs a rate above 0 and a concurrency of 1+")
        updated_at = datetime.now().astimezone().isoformat(timespec="seconds")
        with self._write() as db:
            db.execute(
                "INSERT INTO account_limits (account, rate, concurrency, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET rate = excluded.rate, "
                "concurrency = excluded.concurrency, updated_at = excluded.updated_at",
                (account, rate, concurrency, updated_at),
            )
        return AccountLimit(account, rate, concurrency, updated_at)

    def clear_limit(self, account: str) -> bool:
        """Remove `account`'s budget; whether it had one."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM account_limits WHERE account = ?", (account,))
        return cursor.rowcount > 0

    def limits(self) -> list[AccountLimit]:
        """Every account's budget, by account."""
        with self._lock:
            cursor = self._connection.execute(
                "SELECT account, rate, concurrency, updated_at FROM account_limits ORDER BY account"
            )
            return [AccountLimit(*record) for record in cursor.fetchall()]

    def limit(self, account: str) -> AccountLimit | None:
        """`account`'s budget, if it was given one."""
        with self._lock:
            record = self._connection.execute(
                "SELECT account, rate, concurrency, updated_at FROM account_limits "
                "WHERE account = ?",
                (account,),
            ).fetchone()
        return AccountLimit(*record) if record is not None else None

    def renew(
        self, account: str, holder: str, leases: Sequence[Lease], *, lease_seconds: float
    ) -> tuple[AccountLimit | None, list[Lease]]:
        """Replace `holder`'s leases on `account` with `leases` (none: it draws nothing now), in
        one transaction; the account's budget, and every lease younger than `lease_seconds`."""
        now = self._connection.dialect.now_seconds
        with self._write() as db:
            db.execute(
                "DELETE FROM account_leases WHERE account = ? AND holder = ?", (account, holder)
            )
            db.executemany(
                "INSERT INTO account_leases (account, holder, party, weight, rate_cap, "
                "concurrency_cap, running, demand_rate, renewed_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, {now})",
                [
                    (
                        account,
                        holder,
                        lease.party,
                        lease.weight,
                        lease.rate_cap,
                        lease.concurrency_cap,
                        lease.running,
                        lease.demand_rate,
                    )
                    for lease in leases
                ],
            )
            # Expired leases are deleted by whoever renews next, so the table stays small.
            db.execute(
                f"DELETE FROM account_leases WHERE account = ? AND renewed_at <= {now} - ?",
                (account, lease_seconds),
            )
            live = self._leases(db, account)
            record = db.execute(
                "SELECT account, rate, concurrency, updated_at FROM account_limits "
                "WHERE account = ?",
                (account,),
            ).fetchone()
        return (AccountLimit(*record) if record is not None else None), live

    def leases(self, account: str, *, lease_seconds: float) -> list[Lease]:
        """The leases on `account` younger than `lease_seconds` (for status pages)."""
        now = self._connection.dialect.now_seconds
        with self._lock:
            return self._leases(
                self._connection, account, f"AND renewed_at > {now} - ?", (lease_seconds,)
            )

    def account_of(self, party: str, *, lease_seconds: float) -> str | None:
        """The account a campaign draws from now (`None`: it draws nothing now)."""
        now = self._connection.dialect.now_seconds
        with self._lock:
            record = self._connection.execute(
                "SELECT account FROM account_leases "
                f"WHERE party = ? AND renewed_at > {now} - ? ORDER BY account",
                (party, lease_seconds),
            ).fetchone()
        return record[0] if record is not None else None

    def queued_campaigns(self, account: str) -> list[str]:
        """The account's campaigns waiting for a place, in start order."""
        with self._lock:
            return self._campaigns(self._connection, account, running=False)

    @staticmethod
    def _campaigns(db: Connection, account: str, *, running: bool) -> list[str]:
        """The account's running (or queued) campaigns, in start order."""
        cursor = db.execute(
            "SELECT campaign_id FROM account_campaigns WHERE account = ? AND running = ? "
            "ORDER BY queued_at, campaign_id",
            (account, int(running)),
        )
        return [campaign_id for (campaign_id,) in cursor.fetchall()]

    def accounts_drawing(self, *, lease_seconds: float) -> list[str]:
        """The accounts any process draws from now."""
        now = self._connection.dialect.now_seconds
        with self._lock:
            cursor = self._connection.execute(
                f"SELECT DISTINCT account FROM account_leases WHERE renewed_at > {now} - ? "
                "ORDER BY account",
                (lease_seconds,),
            )
            return [account for (account,) in cursor.fetchall()]

    @staticmethod
    def _leases(
        db: Connection, account: str, where: str = "", parameters: Sequence[object] = ()
    ) -> list[Lease]:
        cursor = db.execute(
            "SELECT holder, party, weight, rate_cap, concurrency_cap, running, demand_rate "
            f"FROM account_leases WHERE account = ? {where} ORDER BY holder, party",
            (account, *parameters),
        )
        return [Lease(*record) for record in cursor.fetchall()]

    def claim_slot(
        self,
        account: str,
        campaign_id: str,
        max_running: int | None,
        queued_at: float | None = None,
    ) -> SlotClaim:
        """Queue `campaign_id` on `account` (once: its place is kept) at `queued_at` (Unix
        seconds; `None`: now), and let it run when fewer than `max_running` of the account's
        campaigns run and none queued before it waits."""
        dialect = self._connection.dialect
        now = dialect.now_seconds
        # PostgreSQL's writers do not take turns by themselves (SQLite's BEGIN IMMEDIATE does):
        # without the lock, campaigns starting at once each see the others' slots still free.
        lock = None if dialect is SQLITE else "SELECT pg_advisory_xact_lock(?, hashtext(?))"
        with self._write(lock, (QUEUE_LOCK, account)) as db:
            db.execute(
                "INSERT INTO account_campaigns (account, campaign_id, queued_at, running) "
                f"VALUES (?, ?, COALESCE(?, {now}), 0) "
                "ON CONFLICT (account, campaign_id) DO NOTHING",
                (account, campaign_id, queued_at),
            )
            campaigns = db.execute(
                "SELECT campaign_id, running FROM account_campaigns WHERE account = ? "
                "ORDER BY queued_at, campaign_id",
                (account,),
            ).fetchall()
            running = sum(1 for _, is_running in campaigns if is_running)
            if dict(campaigns)[campaign_id]:
                return SlotClaim(running=True, ahead=0)
            queued = [queued_id for queued_id, is_running in campaigns if not is_running]
            ahead = queued.index(campaign_id)
            if ahead or (max_running is not None and running >= max_running):
                return SlotClaim(running=False, ahead=ahead)
            db.execute(
                "UPDATE account_campaigns SET running = 1 WHERE account = ? AND campaign_id = ?",
                (account, campaign_id),
            )
        return SlotClaim(running=True, ahead=0)

    def release_slot(self, account: str, campaign_id: str) -> list[str]:
        """`campaign_id` has ended: free its place; the campaigns still queued, in order."""
        with self._write() as db:
            db.execute(
                "DELETE FROM account_campaigns WHERE account = ? AND campaign_id = ?",
                (account, campaign_id),
            )
            return self._campaigns(db, account, running=False)

    def running_campaigns(self, account: str) -> list[str]:
        """The account's campaigns that hold a place among its running ones."""
        with self._lock:
            return self._campaigns(self._connection, account, running=True)
