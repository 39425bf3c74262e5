"""`simops accounts`: the API budget of each account, shared by every campaign, migration and
one-SIM operation on it, in every process (kept in the campaign store)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from simops.campaigns.store.accounts import AccountStore
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.database import DATABASE_ERRORS
from simops.cli.support import ExitCode, OutputFormat, fail, first_line, load_settings
from simops.clients.accounts import AccountBudgetView, accounts_view
from simops.runtime.settings import SimopsSettings
from simops.supersim.accounts import account_key

accounts_app = typer.Typer(
    help="Accounts' API budgets: shared by every campaign and one-SIM operation on the account.",
    no_args_is_help=True,
)

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")

AccountArgument = Annotated[
    str,
    typer.Argument(
        help="The Account SID (AC…), or the account key `simops accounts limits` shows for "
        "credentials without one.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add `simops accounts` to `simops`."""
    app.add_typer(accounts_app, name="accounts")


def _checked_account(settings: SimopsSettings, account: str) -> str:
    if ACCOUNT_SID.match(account) or account == account_key(settings):
        return account
    fail(
        f"{account!r} is not an Account SID: AC followed by 32 hexadecimal digits",
        ExitCode.BAD_INPUT,
    )


def _accounts(settings: SimopsSettings) -> AccountStore:
    backend = store_backend(settings)
    try:
        return backend.accounts()
    except DATABASE_ERRORS as error:
        fail(f"cannot use the campaign store {backend.describe()}: {first_line(error)}")


@accounts_app.command("set-limit")
def set_limit(
    account: AccountArgument,
    rate: Annotated[
        float,
        typer.Option(
            min=0.001, help="Requests per second for the whole account.", show_default=False
        ),
    ],
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Requests in flight at once for the whole account."),
    ] = None,
) -> None:
    """Give an account an API budget that every campaign, migration and one-SIM operation on it
    shares (running campaigns re-divide it within a second)."""
    settings = load_settings()
    account = _checked_account(settings, account)
    with _accounts(settings) as store:
        limit = store.set_limit(account, rate, concurrency)
    in_flight = f", {limit.concurrency} in flight" if limit.concurrency is not None else ""
    typer.echo(f"account {account}: {limit.rate:g} requests/s{in_flight}")


@accounts_app.command("clear-limit")
def clear_limit(account: AccountArgument) -> None:
    """Remove an account's budget (it then has `SIMOPS_ACCOUNT_RATE`'s, if set)."""
    settings = load_settings()
    account = _checked_account(settings, account)
    with _accounts(settings) as store:
        had = store.clear_limit(account)
    if not had:
        fail(f"account {account} has no budget set", ExitCode.BAD_INPUT)
    typer.echo(f"account {account}: budget removed")


def _describe(view: AccountBudgetView) -> list[str]:
    if view.rate is None:
        budget = "no budget (each process keeps to SIMOPS_API_MAX_RPS)"
    else:
        in_flight = f", {view.concurrency} in flight" if view.concurrency is not None else ""
        budget = f"{view.rate:g} requests/s{in_flight} ({view.source})"
    lines = [f"{view.account}: {budget}"]
    for party in view.drawing:
        who = party.party if party.holder is None else f"one-SIM operations in {party.holder}"
        lines.append(
            f"  {who}: weight {party.weight:g}, {party.rate:,.1f} requests/s, "
            f"{party.concurrency} in flight"
        )
    if view.queued_campaigns:
        lines.append(f"  queued: {', '.join(view.queued_campaigns)}")
    return lines


@accounts_app.command("limits")
def limits(
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="text or json.")
    ] = OutputFormat.TEXT,
) -> None:
    """Each account's budget, and how it is divided now between the campaigns drawing from it."""
    settings = load_settings()
    with _accounts(settings) as store:
        view = accounts_view(settings, store)
    if output is OutputFormat.JSON:
        typer.echo(view.model_dump_json(indent=2))
        return
    default = f"{view.default_rate:g} requests/s" if view.default_rate is not None else "none"
    running = view.max_running_campaigns or "no cap"
    typer.echo(f"default budget (SIMOPS_ACCOUNT_RATE): {default}; campaigns at once: {running}")
    if not view.accounts:
        typer.echo("no account has a budget or draws from one now")
    for account in view.accounts:
        for line in _describe(account):
            typer.echo(line)
