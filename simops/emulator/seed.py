"""Demo data: accounts with credentials, Fleets, Networks, Sims and unregistered inventory.

ICCIDs are 20 digits, issuer prefix `89883070` (Super SIM's), a serial and a Luhn check digit,
so they pass the same validation real ones do. Everything is drawn from the emulator's seeded
generator: the same `--seed` gives the same SIDs and credentials.
"""

from __future__ import annotations

import random
import string

from simops.emulator.ids import IdFactory, iccid_for
from simops.emulator.state import (
    AccountRecord,
    FleetRecord,
    NetworkAccessProfileRecord,
    NetworkRecord,
    SimRecord,
    Store,
)

INVENTORY_SERIAL_BASE = 50_000_000_000
"""Inventory serials start here so they never collide with seeded Sims' serials."""
FLEET_NAMES = ("default", "iot-eu", "iot-us", "iot-apac", "lab", "staging")
REGISTRATION_CODE_ALPHABET = string.ascii_uppercase + string.digits
NETWORKS = (
    ("Orange France", "FR", "208", "01"),
    ("Vodafone UK", "GB", "234", "15"),
    ("T-Mobile USA", "US", "310", "260"),
    ("Telefonica Spain", "ES", "214", "07"),
)


def fleet_name(index: int) -> str:
    """The unique name of an account's `index`-th seeded Fleet."""
    return FLEET_NAMES[index] if index < len(FLEET_NAMES) else f"fleet-{index + 1}"


def add_new_sims(
    store: Store, ids: IdFactory, account: AccountRecord, count: int, now: float
) -> list[SimRecord]:
    """`count` new Sims on `account`, each with the ICCID of its index, after those in use: the
    seed's, and those `POST /_emulator/sims` adds while the emulator runs (SIMs arriving).

    No such ICCID is ever taken: inventory serials start at `INVENTORY_SERIAL_BASE`."""
    add_sim = store.add_sim
    sid = ids.sid
    return [add_sim(account, sid("HS"), now) for _ in range(count)]


class Seeder:
    """Creates the initial contents of a fresh store."""

    def __init__(self, store: Store, ids: IdFactory, rng: random.Random, now: float) -> None:
        self._store = store
        self._ids = ids
        self._rng = rng
        self._now = now

    def seed(
        self,
        *,
        child_accounts: int,
        fleets_per_account: int,
        inactive_move_beta: bool,
        sims: int,
        inventory: int,
    ) -> None:
        """Accounts (parent first), their Fleets and profiles, Networks, Sims and inventory."""
        self._networks()
        parent = self._account(None, inactive_move_beta)
        accounts = [parent] + [
            self._account(parent.sid, inactive_move_beta) for _ in range(child_accounts)
        ]
        for account in accounts:
            profile = self._profile(account)
            for index in range(fleets_per_account):
                self._fleet(account, profile, fleet_name(index))
        self.sims(parent, sims)
        self.inventory(inventory)

    def _networks(self) -> None:
        for name, country, mcc, mnc in NETWORKS:
            network = NetworkRecord(
                sid=self._ids.sid("HW"),
                friendly_name=name,
                iso_country=country,
                identifiers=[{"mcc": mcc, "mnc": mnc}],
            )
            self._store.networks[network.sid] = network

    def _account(self, parent_sid: str | None, inactive_move_beta: bool) -> AccountRecord:
        sid = self._ids.sid("AC")
        account = AccountRecord(
            sid=sid,
            parent_sid=parent_sid,
            auth_token=self._ids.secret(),
            client_id=f"emulator-{sid[2:14]}",
            client_secret=self._ids.secret(),
            webhook_secret=self._ids.secret(),
            inactive_move_beta=inactive_move_beta,
        )
        self._store.add_account(account)
        return account

    def _profile(self, account: AccountRecord) -> NetworkAccessProfileRecord:
        profile = NetworkAccessProfileRecord(
            sid=self._ids.sid("HA"),
            account_sid=account.sid,
            unique_name="default",
            date_created=self._now,
            date_updated=self._now,
            network_sids=list(self._store.networks),
        )
        self._store.add_profile(profile)
        return profile

    def _fleet(
        self, account: AccountRecord, profile: NetworkAccessProfileRecord, name: str
    ) -> None:
        self._store.add_fleet(
            FleetRecord(
                sid=self._ids.sid("HF"),
                account_sid=account.sid,
                unique_name=name,
                network_access_profile_sid=profile.sid,
                date_created=self._now,
                date_updated=self._now,
            )
        )

    def sims(self, account: AccountRecord, count: int) -> None:
        """`count` new Sims on `account`, with consecutive serials after the highest in use."""
        add_new_sims(self._store, self._ids, account, count, self._now)

    def inventory(self, count: int) -> None:
        """`count` unregistered ICCIDs with their registration codes."""
        choices = self._rng.choices
        base = INVENTORY_SERIAL_BASE + len(self._store.inventory)
        for serial in range(base, base + count):
            code = "".join(choices(REGISTRATION_CODE_ALPHABET, k=10))
            self._store.inventory[iccid_for(serial)] = code
