"""The emulator's in-memory store: accounts, Sims, Fleets and the other resources, with indexes.

A million Sims, each written once and completed, must fit in 600 bytes each (issue 28). So a
Sim is a `slots` record holding only what cannot be derived: its ICCID follows from its index
(`iccid_for`) unless it was registered from the inventory; its billing periods and its
SettingsUpdate live in columns (`array`s) of the store, with SIDs derived from the Sim's, and
are rendered as records only when read. Each account keeps its Sims in creation order in a list
whose positions never shift (a Sim that leaves gets a `None` tombstone), so a page token can
name a position and a full listing stays O(N). With a state file, every mutation that must
survive a restart marks the Sim dirty for `persistence`.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from simops.core.sim import SimState, SimStatus
from simops.emulator.ids import derived_sid, iccid_for, serial_of
from simops.supersim.resources import BillingPeriodType

BASE_SETTINGS = [
    {
        "name": "base-settings",
        "version": "1.0.0",
        "more_info": "https://twilio.com/docs/iot/supersim/settings-packages/base-settings",
    }
]
"""The packages of the SettingsUpdate every Sim gets with its first billing period."""
PERIOD_TYPES = (BillingPeriodType.READY, BillingPeriodType.ACTIVE)
"""Billing period types by their code in `BillingPeriods`."""


@dataclass(slots=True)
class BillingPeriodRecord:
    """One billing period of a Sim as the API renders it; it keeps the account it started in
    even after a move."""

    sid: str
    account_sid: str
    sim_sid: str
    period_type: BillingPeriodType
    start: float
    end: float
    date_created: float
    date_updated: float


@dataclass(slots=True)
class PendingUpdate:
    """An asynchronous update in flight: where the Sim is heading and whom to call back."""

    sim_sid: str
    final: SimState
    from_status: SimStatus
    due: float
    callback_url: str | None = None
    callback_method: str = "POST"


@dataclass(slots=True)
class SimRecord:
    """One Sim resource plus what the emulator tracks about it.

    `index` numbers Sims across accounts (the store's `sim_list`); a Sim has the ICCID of that
    serial unless `iccid_override` holds another (one registered from the inventory, or one
    reloaded from a state file at another index).
    """

    sid: str
    account_sid: str
    status: SimStatus
    date_created: float
    date_updated: float
    index: int
    slot: int
    iccid_override: str | None = None
    unique_name: str | None = None
    fleet_sid: str | None = None
    pending: PendingUpdate | None = None
    ready_since: float | None = None
    data_bytes: int = 0
    sms_count: int = 0

    @property
    def iccid(self) -> str:
        """The Sim's ICCID."""
        return iccid_for(self.index) if self.iccid_override is None else self.iccid_override

    def state(self) -> SimState:
        """The part of the Sim the rules reason about."""
        return SimState.of(self)

    def effective_status(self) -> SimStatus:
        """The status the network sees: a scheduled Sim still behaves as before its update."""
        if self.pending is not None:
            return self.pending.from_status
        return self.status


class BillingPeriods:
    """Every Sim's billing periods, in columns: about 40 bytes a period where a record, its
    SID and a list per Sim took 300. Periods are numbered in creation order; each Sim's form a
    chain from its latest (`latest`, by Sim index) back through `previous`. A period's SID
    derives from its Sim's SID and its place in the Sim's chain, so it survives a restart
    unchanged."""

    def __init__(self) -> None:
        self._latest = array("i")
        self._previous = array("i")
        self._account: list[str] = []
        self._type = array("B")
        self._start = array("d")
        self._end = array("d")
        self._updated = array("d")

    def latest(self, sim: SimRecord) -> int | None:
        """The number of `sim`'s latest period; None when it never had one."""
        latest = self._latest
        found = latest[sim.index] if sim.index < len(latest) else -1
        return None if found < 0 else found

    def period_type(self, period: int) -> BillingPeriodType:
        """The type of a period."""
        return PERIOD_TYPES[self._type[period]]

    def end(self, period: int) -> float:
        """When a period ends."""
        return self._end[period]

    def start(
        self, sim: SimRecord, period_type: BillingPeriodType, start: float, end: float
    ) -> None:
        """Start a period of `sim` (on its current account) after its latest one."""
        self._append(sim, sim.account_sid, period_type, start, end, start)

    def restore(self, sim: SimRecord, period: BillingPeriodRecord) -> None:
        """Put back a period of `sim` read from a state file, after its latest one."""
        self._append(
            sim, period.account_sid, period.period_type, period.start, period.end,
            period.date_updated,
        )  # fmt: skip

    def _append(
        self,
        sim: SimRecord,
        account_sid: str,
        period_type: BillingPeriodType,
        start: float,
        end: float,
        updated: float,
    ) -> None:
        latest = self._latest
        if sim.index >= len(latest):
            latest.extend(array("i", [-1]) * (sim.index + 1 - len(latest)))
        previous = latest[sim.index]
        latest[sim.index] = len(self._previous)
        self._previous.append(previous)
        self._account.append(account_sid)
        self._type.append(PERIOD_TYPES.index(period_type))
        self._start.append(start)
        self._end.append(end)
        self._updated.append(updated)

    def cut_short(self, period: int, at: float) -> None:
        """End a period early, at `at`."""
        self._end[period] = at
        self._updated[period] = at

    def of_sim(self, sim: SimRecord) -> list[BillingPeriodRecord]:
        """`sim`'s periods, oldest first, as records."""
        chain: list[int] = []
        period = self.latest(sim)
        while period is not None:
            chain.append(period)
            previous = self._previous[period]
            period = None if previous < 0 else previous
        chain.reverse()
        return [
            BillingPeriodRecord(
                sid=derived_sid("HB", f"{sim.sid}/{number}"),
                account_sid=self._account[period],
                sim_sid=sim.sid,
                period_type=self.period_type(period),
                start=self._start[period],
                end=self._end[period],
                date_created=self._start[period],
                date_updated=self._updated[period],
            )
            for number, period in enumerate(chain)
        ]


class SettingsUpdates(Sequence["SettingsUpdateRecord"]):
    """The SettingsUpdate each Sim got with its first billing period, in columns (the Sim's
    index and when), rendered as records when read; its SID derives from the Sim's."""

    def __init__(self, sims: Sequence[SimRecord]) -> None:
        self._sims = sims
        self._sim = array("I")
        self._at = array("d")

    def __len__(self) -> int:
        return len(self._sim)

    @overload
    def __getitem__(self, position: int) -> SettingsUpdateRecord: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[SettingsUpdateRecord]: ...

    def __getitem__(
        self, position: int | slice
    ) -> SettingsUpdateRecord | Sequence[SettingsUpdateRecord]:
        if isinstance(position, slice):
            return [self[index] for index in range(*position.indices(len(self)))]
        sim = self._sims[self._sim[position]]
        at = self._at[position]
        return SettingsUpdateRecord(
            sid=derived_sid("OB", sim.sid),
            sim_sid=sim.sid,
            iccid=sim.iccid,
            status="successful",
            packages=BASE_SETTINGS,
            date_completed=at,
            date_created=at,
            date_updated=at,
        )

    def add(self, sim: SimRecord, at: float) -> None:
        """Record that `sim` got its base settings at `at`."""
        self._sim.append(sim.index)
        self._at.append(at)


@dataclass(slots=True)
class FleetRecord:
    """A Fleet resource."""

    sid: str
    account_sid: str
    unique_name: str | None
    network_access_profile_sid: str
    date_created: float
    date_updated: float
    data_enabled: bool = True
    data_limit: int = 250
    data_metering: str = "payg"
    sms_commands_enabled: bool = False
    sms_commands_url: str | None = None
    sms_commands_method: str = "POST"
    ip_commands_url: str | None = None
    ip_commands_method: str = "POST"


@dataclass(slots=True)
class NetworkRecord:
    """A cellular Network resource (global, read-only)."""

    sid: str
    friendly_name: str
    iso_country: str
    identifiers: list[dict[str, str]]


@dataclass(slots=True)
class NetworkAccessProfileRecord:
    """A NetworkAccessProfile resource with the Networks it allows."""

    sid: str
    account_sid: str
    unique_name: str | None
    date_created: float
    date_updated: float
    network_sids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SmsCommandRecord:
    """An SmsCommand sent to a Sim."""

    sid: str
    account_sid: str
    sim_sid: str
    payload: str
    status: str
    direction: str
    date_created: float
    date_updated: float


@dataclass(slots=True)
class SettingsUpdateRecord:
    """A SettingsUpdate: its history follows the Sim across accounts."""

    sid: str
    sim_sid: str
    iccid: str
    status: str
    packages: list[dict[str, str]]
    date_completed: float | None
    date_created: float
    date_updated: float


@dataclass(slots=True)
class UsageEntry:
    """Data used by a Sim at one moment; it stays with the account that incurred it."""

    account_sid: str
    sim_sid: str
    fleet_sid: str | None
    network_sid: str | None
    iso_country: str | None
    timestamp: float
    upload: int
    download: int


@dataclass(slots=True)
class AccountRecord:
    """An account (the parent or a child) with its credentials and its own resources."""

    sid: str
    parent_sid: str | None
    auth_token: str
    client_id: str
    client_secret: str
    webhook_secret: str
    inactive_move_beta: bool = False
    fleets: dict[str, FleetRecord] = field(default_factory=dict)
    fleet_names: dict[str, FleetRecord] = field(default_factory=dict)
    profiles: dict[str, NetworkAccessProfileRecord] = field(default_factory=dict)
    profile_names: dict[str, NetworkAccessProfileRecord] = field(default_factory=dict)
    sims: list[SimRecord | None] = field(default_factory=list)
    sim_names: dict[str, SimRecord] = field(default_factory=dict)

    def credentials(self) -> dict[str, Any]:
        """The account as `GET /_emulator/accounts` lists it."""
        return {
            "account_sid": self.sid,
            "parent_account_sid": self.parent_sid,
            "auth_token": self.auth_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "webhook_secret": self.webhook_secret,
            "inactive_move_beta": self.inactive_move_beta,
            "fleets": list(self.fleets),
            "fleet_names": [fleet.unique_name for fleet in self.fleets.values()],
        }


def find_named(
    by_sid: dict[str, Any], by_name: dict[str, Any], ref: str, prefix: str
) -> Any | None:
    """A record addressed by SID (if `ref` has the prefix) or else by unique name."""
    if ref.startswith(prefix) and len(ref) == 34:
        found = by_sid.get(ref)
        if found is not None:
            return found
    return by_name.get(ref)


class Store:
    """Every resource of the emulator and the indexes the API needs to answer in O(1).

    `persistent` (a state file is kept) makes it collect the Sims changed since the last write
    in `dirty_sims`; without one that set would only grow, by a SID per Sim written.
    """

    def __init__(self, *, persistent: bool = False) -> None:
        self.accounts: dict[str, AccountRecord] = {}
        self.sims: dict[str, SimRecord] = {}
        self.sim_list: list[SimRecord] = []
        self.iccid_overrides: dict[str, SimRecord] = {}
        self.inventory: dict[str, str] = {}
        self.networks: dict[str, NetworkRecord] = {}
        self.periods = BillingPeriods()
        self.sms_commands: list[SmsCommandRecord] = []
        self.sms_by_sid: dict[str, SmsCommandRecord] = {}
        self.settings_updates = SettingsUpdates(self.sim_list)
        self.usage: list[UsageEntry] = []
        self.persistent = persistent
        self.dirty_sims: set[str] = set()
        self.dirty_resources = False
        self.inventory_removed: set[str] = set()

    @property
    def parent(self) -> AccountRecord:
        """The parent account (the first one created)."""
        return next(iter(self.accounts.values()))

    def add_account(self, account: AccountRecord) -> None:
        """Register an account; the first one is the parent."""
        self.accounts[account.sid] = account
        self.dirty_resources = True

    def children(self, account: AccountRecord) -> list[AccountRecord]:
        """The child accounts of `account` (none for a child)."""
        if account.parent_sid is not None:
            return []
        return [other for other in self.accounts.values() if other.parent_sid == account.sid]

    def scope(self, requester: AccountRecord) -> list[AccountRecord]:
        """The accounts whose Sims `requester` sees: itself, and its children for the parent."""
        return [requester, *self.children(requester)]

    def can_see(self, requester: AccountRecord, account_sid: str) -> bool:
        """Whether `requester`'s credentials reach resources of `account_sid`."""
        if account_sid == requester.sid:
            return True
        owner = self.accounts.get(account_sid)
        return owner is not None and owner.parent_sid == requester.sid

    def find_sim(self, requester: AccountRecord, ref: str) -> SimRecord | None:
        """A Sim visible to `requester` by SID or unique name (its own names first)."""
        if ref.startswith("HS") and len(ref) == 34:
            sim = self.sims.get(ref)
            if sim is not None and self.can_see(requester, sim.account_sid):
                return sim
        for account in self.scope(requester):
            named = account.sim_names.get(ref)
            if named is not None:
                return named
        return None

    def find_fleet(self, account: AccountRecord, ref: str) -> FleetRecord | None:
        """A Fleet of `account` by SID or unique name."""
        found: FleetRecord | None = find_named(account.fleets, account.fleet_names, ref, "HF")
        return found

    def find_visible_fleet(self, requester: AccountRecord, ref: str) -> FleetRecord | None:
        """A Fleet of `requester` or, for the parent, of a child (list filters use this)."""
        for account in self.scope(requester):
            found = self.find_fleet(account, ref)
            if found is not None:
                return found
        return None

    def find_profile(self, account: AccountRecord, ref: str) -> NetworkAccessProfileRecord | None:
        """A NetworkAccessProfile of `account` by SID or unique name."""
        found: NetworkAccessProfileRecord | None = find_named(
            account.profiles, account.profile_names, ref, "HA"
        )
        return found

    def find_by_iccid(self, iccid: str) -> SimRecord | None:
        """The Sim with this ICCID, whichever account holds it."""
        overridden = self.iccid_overrides.get(iccid)
        if overridden is not None:
            return overridden
        serial = serial_of(iccid)
        if serial is None or serial >= len(self.sim_list):
            return None
        sim = self.sim_list[serial]
        return sim if sim.iccid_override is None else None

    def add_sim(
        self, account: AccountRecord, sid: str, now: float, iccid_override: str | None = None
    ) -> SimRecord:
        """Create a `new` Sim on `account`: with the ICCID of its index, or `iccid_override`
        (one registered from the inventory)."""
        index = len(self.sim_list)
        slot = len(account.sims)
        sim = SimRecord(
            sid=sid,
            account_sid=account.sid,
            status=SimStatus.NEW,
            date_created=now,
            date_updated=now,
            index=index,
            # One int object for both when they are equal (every seeded Sim): 28 bytes a Sim.
            slot=index if slot == index else slot,
            iccid_override=iccid_override,
        )
        self._place(account, sim)
        self.touch(sim)
        return sim

    def place_sim(self, sim: SimRecord, iccid: str) -> None:
        """Index a Sim loaded from persistence on its account (sharing the account's SID)."""
        account = self.accounts[sim.account_sid]
        sim.account_sid = account.sid
        sim.index = len(self.sim_list)
        sim.slot = len(account.sims)
        sim.iccid_override = None if iccid == iccid_for(sim.index) else iccid
        self._place(account, sim)
        if sim.unique_name:
            account.sim_names[sim.unique_name] = sim

    def _place(self, account: AccountRecord, sim: SimRecord) -> None:
        account.sims.append(sim)
        self.sim_list.append(sim)
        self.sims[sim.sid] = sim
        if sim.iccid_override is not None:
            self.iccid_overrides[sim.iccid_override] = sim

    def apply_state(self, sim: SimRecord, state: SimState, now: float) -> None:
        """Give `sim` the state `state`, keeping the name and account indexes right."""
        old_account = self.accounts[sim.account_sid]
        if sim.unique_name and old_account.sim_names.get(sim.unique_name) is sim:
            del old_account.sim_names[sim.unique_name]
        if state.account_sid != sim.account_sid:
            old_account.sims[sim.slot] = None
            new_account = self.accounts[state.account_sid]
            sim.slot = len(new_account.sims)
            new_account.sims.append(sim)
            sim.account_sid = state.account_sid
        account = self.accounts[sim.account_sid]
        sim.unique_name = state.unique_name
        if sim.unique_name:
            account.sim_names[sim.unique_name] = sim
        sim.status = state.status
        sim.fleet_sid = state.fleet_sid
        sim.date_updated = now
        self.touch(sim)

    def claim_inventory(self, iccid: str) -> None:
        """Take an ICCID out of the unregistered inventory."""
        del self.inventory[iccid]
        self.inventory_removed.add(iccid)

    def add_sms_command(self, command: SmsCommandRecord) -> None:
        """Record an SmsCommand."""
        self.sms_commands.append(command)
        self.sms_by_sid[command.sid] = command

    def touch(self, sim: SimRecord) -> None:
        """Mark a Sim changed in a way that must be persisted (when a state file is kept)."""
        if self.persistent:
            self.dirty_sims.add(sim.sid)

    def add_fleet(self, fleet: FleetRecord) -> None:
        """Register a Fleet on its account."""
        account = self.accounts[fleet.account_sid]
        account.fleets[fleet.sid] = fleet
        if fleet.unique_name:
            account.fleet_names[fleet.unique_name] = fleet
        self.dirty_resources = True

    def rename_fleet(self, fleet: FleetRecord, unique_name: str | None) -> None:
        """Change a Fleet's unique name, keeping the name index right."""
        account = self.accounts[fleet.account_sid]
        if fleet.unique_name:
            account.fleet_names.pop(fleet.unique_name, None)
        fleet.unique_name = unique_name
        if unique_name:
            account.fleet_names[unique_name] = fleet
        self.dirty_resources = True

    def add_profile(self, profile: NetworkAccessProfileRecord) -> None:
        """Register a NetworkAccessProfile on its account."""
        account = self.accounts[profile.account_sid]
        account.profiles[profile.sid] = profile
        if profile.unique_name:
            account.profile_names[profile.unique_name] = profile
        self.dirty_resources = True

    def rename_profile(self, profile: NetworkAccessProfileRecord, unique_name: str | None) -> None:
        """Change a NetworkAccessProfile's unique name, keeping the name index right."""
        account = self.accounts[profile.account_sid]
        if profile.unique_name:
            account.profile_names.pop(profile.unique_name, None)
        profile.unique_name = unique_name
        if unique_name:
            account.profile_names[unique_name] = profile
        self.dirty_resources = True
