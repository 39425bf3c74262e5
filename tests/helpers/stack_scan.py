"""The leak check on a local stack, as the tests and the benchmark run it.

`capture_log_records` sends every log record of the process to a file while the stack works,
and `stack_secrets` lists every value that must then be absent from that file and from every
history: the stack's configured secrets, the emulator accounts' credentials, the bearer token
the stack's API client was issued, and every ICCID the emulator knows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simops.devstack.in_process import LocalStack
from simops.observability.logging import TEXT_FORMAT
from simops.runtime.http_client import HttpClient
from simops.scan import configured_secrets

EMULATOR_LOGGER = "simops.emulator"
"""The emulator stands in for the provider: its own logs are not simops'."""


@contextmanager
def capture_log_records(path: Path, formatter: logging.Formatter | None = None) -> Iterator[None]:
    """Every record of this process at DEBUG and above (the emulator's excepted) into `path`,
    as the processes write them in plain text, or with `formatter` (as `JsonFormatter`)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter or logging.Formatter(TEXT_FORMAT))
    handler.addFilter(lambda record: not record.name.startswith(EMULATOR_LOGGER))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(handler)
        handler.close()


async def stack_secrets(stack: LocalStack) -> list[str]:
    """Every credential in play on `stack`, and the full ICCID of every SIM of its emulator."""
    http = HttpClient(timeout_seconds=10)
    try:
        # The provider's current credential: for KORE OAuth2, the bearer token it was issued.
        authorization = await stack.api.auth.authorization(http)
    finally:
        await http.close()
    credential = authorization.split(" ", 1)[-1]
    accounts = [
        value
        for account in stack.emulator.accounts
        for value in (account.auth_token, account.client_secret, account.webhook_secret)
    ]
    store = stack.emulator.context.store
    iccids = [*(sim.iccid for sim in store.sims.values()), *store.inventory]
    return [*configured_secrets(stack.settings), authorization, credential, *accounts, *iccids]
