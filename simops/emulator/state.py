"""The emulator's in-memory store: accounts, Sims, Fleets and the other resources, with indexes.

Records are `slots` dataclasses because a million Sims must fit well under 1 GB. Each account
keeps its Sims in creation order in a list whose positions never shift (a Sim that leaves gets a
`None` tombstone), so a page token can name a position and a full listing stays O(N).
Every mutation that must survive a restart marks the record dirty for `persistence`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simops.core.sim import SimState, SimStatus
from simops.supersim.resources import BillingPeriodType


@dataclass(slots=True)
class BillingPeriodRecord:
    """One billing period of a Sim; it keeps the account it started in even after a move."""

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
    """One Sim resource plus what the emulator tracks about it."""

    sid: str
    account_sid: str
    iccid: str
    status: SimStatus
    date_created: float
    date_updated: float
    slot: int
    unique_name: str | None = None
    fleet_sid: str | None = None
    pending: PendingUpdate | None = None
    ready_since: float | None = None
    data_bytes: int = 0
    sms_count: int = 0
    periods: list[BillingPeriodRecord] | None = None

    def state(self) -> SimState:
        """The part of the Sim the rules reason about."""
        return SimState.of(self)

    def effective_status(self) -> SimStatus:
        """The status the network sees: a scheduled Sim still behaves as before its update."""
        if self.pending is not None:
            return self.pending.from_status
        return self.status


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
    """Every resource of the emulator and the indexes the API needs to answer in O(1)."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountRecord] = {}
        self.sims: dict[str, SimRecord] = {}
        self.sims_by_iccid: dict[str, SimRecord] = {}
        self.inventory: dict[str, str] = {}
        self.networks: dict[str, NetworkRecord] = {}
        self.sms_commands: list[SmsCommandRecord] = []
        self.sms_by_sid: dict[str, SmsCommandRecord] = {}
        self.settings_updates: list[SettingsUpdateRecord] = []
        self.usage: list[UsageEntry] = []
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

    def add_sim(self, account: AccountRecord, sid: str, iccid: str, now: float) -> SimRecord:
        """Create a `new` Sim on `account`."""
        sim = SimRecord(
            sid=sid,
            account_sid=account.sid,
            iccid=iccid,
            status=SimStatus.NEW,
            date_created=now,
            date_updated=now,
            slot=len(account.sims),
        )
        account.sims.append(sim)
        self.sims[sid] = sim
        self.sims_by_iccid[iccid] = sim
        self.dirty_sims.add(sid)
        return sim

    def place_sim(self, sim: SimRecord) -> None:
        """Index a Sim loaded from persistence on its account (sharing the account's SID)."""
        account = self.accounts[sim.account_sid]
        sim.account_sid = account.sid
        sim.slot = len(account.sims)
        account.sims.append(sim)
        if sim.unique_name:
            account.sim_names[sim.unique_name] = sim
        self.sims[sim.sid] = sim
        self.sims_by_iccid[sim.iccid] = sim

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
        self.dirty_sims.add(sim.sid)

    def claim_inventory(self, iccid: str) -> None:
        """Take an ICCID out of the unregistered inventory."""
        del self.inventory[iccid]
        self.inventory_removed.add(iccid)

    def add_sms_command(self, command: SmsCommandRecord) -> None:
        """Record an SmsCommand."""
        self.sms_commands.append(command)
        self.sms_by_sid[command.sid] = command

    def touch(self, sim: SimRecord) -> None:
        """Mark a Sim changed in a way that must be persisted."""
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
