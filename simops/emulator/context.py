"""The parts of one running emulator, handed to every route handler through the app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from simops.emulator.auth import Authenticator
from simops.emulator.callbacks import CallbackDispatcher
from simops.emulator.clock import EmulatorClock
from simops.emulator.faults import Faults
from simops.emulator.ids import IdFactory
from simops.emulator.lifecycle import Lifecycle
from simops.emulator.limits import AccountLimits
from simops.emulator.state import AccountRecord, Store
from simops.emulator.stats import Stats
from simops.emulator.timers import Timers


@dataclass
class EmulatorContext:
    """Everything a handler may need; built once by `server.start_emulator`."""

    store: Store
    clock: EmulatorClock
    timers: Timers
    dispatcher: CallbackDispatcher
    lifecycle: Lifecycle
    faults: Faults
    stats: Stats
    limits: AccountLimits
    auth: Authenticator
    ids: IdFactory


CONTEXT = web.AppKey("simops.emulator.context", EmulatorContext)
ACCOUNT_KEY = web.RequestKey("simops.emulator.account", AccountRecord)
"""Where the authentication middleware leaves the requesting account on the request."""


def context_of(request: web.Request) -> EmulatorContext:
    """The emulator serving `request`."""
    return request.app[CONTEXT]


def requester_of(request: web.Request) -> AccountRecord:
    """The authenticated account of a `/v1` request."""
    return request[ACCOUNT_KEY]
