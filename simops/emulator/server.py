"""Start and stop an emulator in the current event loop: the entry point for tests and the CLI.

`start_emulator(EmulatorOptions(...))` seeds (or reloads) the store, starts the HTTP server on
a free port when `port=0`, the timer task, the callback senders and, with `state_file`, the
SQLite write-behind; `RunningEmulator.stop()` undoes all of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from simops.emulator.app import TOKEN_PATH, build_app
from simops.emulator.auth import Authenticator
from simops.emulator.callbacks import DEFAULT_CALLBACK_SENDERS, CallbackDispatcher
from simops.emulator.clock import EmulatorClock
from simops.emulator.context import EmulatorContext
from simops.emulator.faults import Faults
from simops.emulator.ids import IdFactory
from simops.emulator.lifecycle import Lifecycle
from simops.emulator.limits import AccountLimits
from simops.emulator.persistence import SqlitePersistence
from simops.emulator.seed import Seeder
from simops.emulator.state import AccountRecord, Store
from simops.emulator.stats import Stats
from simops.emulator.timers import Timers


@dataclass
class EmulatorOptions:
    """How to run an emulator; the CLI flags map one to one onto these fields."""

    host: str = "127.0.0.1"
    port: int = 0
    seed_sims: int = 0
    seed_inventory: int = 0
    child_accounts: int = 0
    scheduled_delay: tuple[float, float] = (1.0, 1.0)
    max_concurrency: int | None = None
    rate: float | None = None
    token_ttl: float = 3600.0
    state_file: Path | None = None
    random_seed: int | None = None
    inactive_move_beta: bool = False
    fleets_per_account: int = 2
    callback_retry_base: float = 0.5
    callback_senders: int = DEFAULT_CALLBACK_SENDERS


def parse_delay(text: str) -> tuple[float, float]:
    """A scheduled delay from `"2"` (fixed) or `"0.5-3"` (uniform range), in seconds."""
    low_text, separator, high_text = text.strip().partition("-")
    try:
        low = float(low_text)
        high = float(high_text) if separator else low
    except ValueError:
        raise ValueError(f"not a delay: {text!r} (use e.g. 2 or 0.5-3)") from None
    if low < 0 or high < low:
        raise ValueError(f"not a delay range: {text!r} (need 0 <= low <= high)")
    return low, high


@dataclass(frozen=True)
class EmulatorAccount:
    """One account's credentials, as tests and the CLI need them."""

    account_sid: str
    parent_account_sid: str | None
    auth_token: str
    client_id: str
    client_secret: str
    webhook_secret: str
    inactive_move_beta: bool
    fleets: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, account: AccountRecord) -> EmulatorAccount:
        """The credentials of a store account."""
        return cls(
            account_sid=account.sid,
            parent_account_sid=account.parent_sid,
            auth_token=account.auth_token,
            client_id=account.client_id,
            client_secret=account.client_secret,
            webhook_secret=account.webhook_secret,
            inactive_move_beta=account.inactive_move_beta,
            fleets=list(account.fleets),
        )


@dataclass
class RunningEmulator:
    """An emulator serving in this process."""

    root_url: str
    api_url: str
    token_url: str
    accounts: list[EmulatorAccount]
    context: EmulatorContext
    _runner: web.AppRunner
    _persistence: SqlitePersistence | None
    _stopped: bool = False

    @property
    def parent(self) -> EmulatorAccount:
        """The parent account."""
        return self.accounts[0]

    @property
    def app(self) -> web.Application:
        """The aiohttp application (e.g. to enumerate its routes)."""
        app = self._runner.app
        assert isinstance(app, web.Application)
        return app

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.root_url.rsplit(":", 1)[1])

    async def stop(self) -> None:
        """Stop serving, flush the state file and release the port (twice is harmless)."""
        if self._stopped:
            return
        self._stopped = True
        await self._runner.cleanup()
        await self.context.dispatcher.stop()
        await self.context.timers.stop()
        if self._persistence is not None:
            await self._persistence.close()


def check_options(options: EmulatorOptions) -> None:
    """Refuse options no emulator can run with (`ValueError` naming the option)."""
    counts = {
        "seed_sims": options.seed_sims,
        "seed_inventory": options.seed_inventory,
        "child_accounts": options.child_accounts,
        "fleets_per_account": options.fleets_per_account,
    }
    for name, count in counts.items():
        if count < 0:
            raise ValueError(f"{name} cannot be negative")
    low, high = options.scheduled_delay
    if low < 0 or high < low:
        raise ValueError("scheduled_delay needs 0 <= low <= high")
    if options.max_concurrency is not None and options.max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    if options.rate is not None and options.rate <= 0:
        raise ValueError("rate must be positive")
    if options.token_ttl <= 0:
        raise ValueError("token_ttl must be positive")


async def start_emulator(options: EmulatorOptions) -> RunningEmulator:
    """Start an emulator in the current event loop."""
    check_options(options)
    rng = random.Random(options.random_seed)
    ids = IdFactory(random.Random(rng.getrandbits(64)))
    clock = EmulatorClock()
    store = Store(persistent=options.state_file is not None)
    persistence = SqlitePersistence(options.state_file) if options.state_file else None
    loaded = persistence is not None and persistence.load(store, clock)
    if not loaded:
        Seeder(store, ids, random.Random(rng.getrandbits(64)), clock.now()).seed(
            child_accounts=options.child_accounts,
            fleets_per_account=options.fleets_per_account,
            inactive_move_beta=options.inactive_move_beta,
            sims=options.seed_sims,
            inventory=options.seed_inventory,
        )
    timers = Timers(clock)
    faults = Faults(random.Random(rng.getrandbits(64)))
    stats = Stats(store.sim_list)
    dispatcher = CallbackDispatcher(
        clock,
        timers,
        faults,
        stats,
        senders=options.callback_senders,
        retry_base_seconds=options.callback_retry_base,
    )
    lifecycle = Lifecycle(
        store,
        clock,
        timers,
        dispatcher,
        faults,
        stats,
        ids,
        random.Random(rng.getrandbits(64)),
        options.scheduled_delay,
    )
    if loaded:
        lifecycle.restore()
    context = EmulatorContext(
        store=store,
        clock=clock,
        timers=timers,
        dispatcher=dispatcher,
        lifecycle=lifecycle,
        faults=faults,
        stats=stats,
        limits=AccountLimits(options.max_concurrency, options.rate),
        auth=Authenticator(store, ids, options.token_ttl),
        ids=ids,
    )
    runner = web.AppRunner(build_app(context), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    host = options.host if options.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    root_url = f"http://{host}:{port}"
    timers.start()
    dispatcher.start()
    if persistence is not None:
        await persistence.start(store, clock)
    return RunningEmulator(
        root_url=root_url,
        api_url=f"{root_url}/v1",
        token_url=f"{root_url}{TOKEN_PATH}",
        accounts=[EmulatorAccount.from_record(account) for account in store.accounts.values()],
        context=context,
        _runner=runner,
        _persistence=persistence,
    )
