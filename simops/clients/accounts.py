"""Accounts' API budgets as the CLI, the dashboard and status show them: the budgets set, the
default, who draws from each account now and with what share, and the campaigns running and
queued on it."""

from __future__ import annotations

from pydantic import BaseModel

from simops.campaigns.account_budget import (
    LEASE_SECONDS,
    AccountDefaults,
    account_shares,
    one_sim_key,
)
from simops.campaigns.store.accounts import ONE_SIM_PARTY, AccountLimit, AccountStore
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.database import DATABASE_ERRORS
from simops.messages import AccountShare
from simops.runtime.settings import SimopsSettings


class PartyShare(BaseModel):
    """One party drawing from an account now, and its share."""

    party: str
    """A campaign ID, or `one-sim` for one process's one-SIM operations."""
    kind: str
    """`campaign` or `one-sim`."""
    holder: str | None = None
    """The process, for one-SIM operations (a campaign's share is every process's)."""
    weight: float
    rate: float
    concurrency: int


class AccountBudgetView(BaseModel):
    """One account: its budget, where the budget comes from, and who draws from it now."""

    account: str
    rate: float | None
    concurrency: int | None
    source: str
    """`set-limit` (the store), `default` (`SIMOPS_ACCOUNT_RATE`) or `none`."""
    updated_at: str | None = None
    drawing: list[PartyShare]
    running_campaigns: list[str]
    queued_campaigns: list[str]


class AccountsView(BaseModel):
    """`simops accounts limits -o json`."""

    default_rate: float | None
    default_concurrency: int | None
    max_running_campaigns: int | None
    accounts: list[AccountBudgetView]


def _effective(settings: SimopsSettings, store: AccountStore, account: str) -> AccountLimit | None:
    return AccountDefaults.from_settings(settings).limit_of(account, store.limit(account))


def account_view(settings: SimopsSettings, store: AccountStore, account: str) -> AccountBudgetView:
    """What an account's budget is and how it is divided now."""
    stored = store.limit(account)
    limit = AccountDefaults.from_settings(settings).limit_of(account, stored)
    leases = store.leases(account, lease_seconds=LEASE_SECONDS)
    shares = account_shares(limit, leases)
    drawing: list[PartyShare] = []
    seen: set[str] = set()
    for lease in leases:
        one_sim = lease.party == ONE_SIM_PARTY
        key = one_sim_key(lease.holder) if one_sim else lease.party
        if key in seen or key not in shares:
            continue
        seen.add(key)
        drawing.append(
            PartyShare(
                party="one-sim" if one_sim else lease.party,
                kind="one-sim" if one_sim else "campaign",
                holder=lease.holder if one_sim else None,
                weight=lease.weight,
                rate=round(shares[key].rate, 3),
                concurrency=shares[key].concurrency,
            )
        )
    source = "set-limit" if stored is not None else ("default" if limit is not None else "none")
    return AccountBudgetView(
        account=account,
        rate=limit.rate if limit is not None else None,
        concurrency=limit.concurrency if limit is not None else None,
        source=source,
        updated_at=stored.updated_at if stored is not None else None,
        drawing=drawing,
        running_campaigns=store.running_campaigns(account),
        queued_campaigns=store.queued_campaigns(account),
    )


def accounts_view(settings: SimopsSettings, store: AccountStore) -> AccountsView:
    """Every account with a budget or drawing now."""
    accounts = {limit.account for limit in store.limits()}
    accounts.update(store.accounts_drawing(lease_seconds=LEASE_SECONDS))
    return AccountsView(
        default_rate=settings.account_rate,
        default_concurrency=settings.account_concurrency,
        max_running_campaigns=settings.max_running_campaigns,
        accounts=[account_view(settings, store, account) for account in sorted(accounts)],
    )


def campaign_share(settings: SimopsSettings, campaign_id: str) -> AccountShare | None:
    """The campaign's share of its account's budget now (`None`: it draws nothing now)."""
    try:
        with store_backend(settings).accounts() as store:
            account = store.account_of(campaign_id, lease_seconds=LEASE_SECONDS)
            if account is None:
                return None
            limit = _effective(settings, store, account)
            leases = store.leases(account, lease_seconds=LEASE_SECONDS)
    except DATABASE_ERRORS:
        # Status shows everything else: the share is the one part it can do without.
        return None
    share = account_shares(limit, leases).get(campaign_id)
    if share is None:
        return None
    return AccountShare(
        account=account,
        weight=next(lease.weight for lease in leases if lease.party == campaign_id),
        rate=round(share.rate, 3),
        concurrency=share.concurrency,
        account_rate=limit.rate if limit is not None else None,
        account_concurrency=limit.concurrency if limit is not None else None,
    )
