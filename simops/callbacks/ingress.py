"""The callback ingress: verify, deduplicate, and signal the workflow that waits.

It makes no Super SIM API call and keeps no state that matters (the duplicate cache only saves
signals; workflows drop repeated idempotency tokens themselves), so several can run behind a
load balancer. Answers: 200 for a callback taken or one whose workflow is gone (so the provider
stops retrying), 403 for a forged one (any malformed URL token or signature included), 400 for
a malformed body, 503 when Temporal is unreachable (so the provider retries later). It refuses
to start when it could not verify the provider's signature of an account it knows (no secret
configured), unless told to accept unsigned callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from simops.callbacks.urls import CALLBACK_PATH_PREFIX, is_authentic
from simops.contract import CALLBACK_SIGNAL, is_sim_workflow_id
from simops.observability import metrics
from simops.runtime.settings import SimopsSettings
from simops.sim_messages import SimCallback, SimCallbackBatch
from simops.supersim.signatures import (
    KORE_IDEMPOTENCY_HEADER,
    KORE_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    verify_kore_signature,
    verify_twilio_signature,
)

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 16 * 1024
DUPLICATE_CACHE_SIZE = 100_000
COALESCE_WINDOW_SECONDS = 0.05
COALESCE_MAX_CALLBACKS = 500


class UnsignedCallbacksError(ValueError):
    """The ingress would have to accept callbacks whose provider signature it cannot check."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{problem}: the callback ingress cannot verify provider signatures; configure the "
            "secrets, or pass --allow-unsigned for a local experiment"
        )


def unverifiable_accounts(settings: SimopsSettings) -> str | None:
    """What the ingress cannot verify callbacks of, or `None` when every account it knows has a
    provider secret (a KORE webhook secret or a Twilio Auth Token)."""
    known = {*settings.kore_webhook_secrets, *settings.twilio_auth_tokens}
    if settings.twilio_account_sid is not None:
        known.add(settings.twilio_account_sid)
    missing = sorted(
        account
        for account in known
        # An empty secret verifies nothing an attacker could not sign too.
        if not settings.webhook_secret_for(account) and not settings.twilio_auth_token_for(account)
    )
    if missing:
        return f"no provider secret for account {', '.join(missing)}"
    if not known and not settings.webhook_secret_for(None):
        return (
            "no provider secret configured (SIMOPS_KORE_WEBHOOK_SECRET, "
            "SIMOPS_KORE_WEBHOOK_SECRETS, SIMOPS_TWILIO_AUTH_TOKENS)"
        )
    return None


def check_provider_secrets(settings: SimopsSettings, allow_unsigned: bool) -> None:
    """Refuse (`UnsignedCallbacksError`) to serve accounts whose callbacks cannot be verified;
    with `allow_unsigned`, serve them with a loud warning instead."""
    unverifiable = unverifiable_accounts(settings)
    if unverifiable is None:
        return
    if not allow_unsigned:
        raise UnsignedCallbacksError(unverifiable)
    log.warning(
        "UNSIGNED CALLBACKS ARE ACCEPTED (--allow-unsigned): %s; only the callback URL's HMAC "
        "authenticates them: for local experiments only",
        unverifiable,
    )


class CallbackSignaller(Protocol):
    """Delivers verified callbacks to a workflow; False when the workflow is closed or unknown."""

    async def __call__(self, workflow_id: str, batch: SimCallbackBatch) -> bool:
        """Signal `batch` to the workflow; whether it took it."""


class TemporalSignaller:
    """Signals workflows through a Temporal client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def __call__(self, workflow_id: str, batch: SimCallbackBatch) -> bool:
        """Signal the batch to the workflow; False when it has closed or never existed."""
        try:
            # By name: the URL names a SIM operation or a campaign batch, and both take it.
            await self._client.get_workflow_handle(workflow_id).signal(CALLBACK_SIGNAL, batch)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


@dataclass
class _PendingSignal:
    callbacks: list[SimCallback] = field(default_factory=list)
    delivered: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    flush: asyncio.TimerHandle | None = None


class CallbackCoalescer:
    """Gathers the callbacks for one workflow over a short window into one signal.

    A one-SIM operation's callback is signalled at once instead: a person waits for it, and its
    workflow gets one callback per write, so the window would only add to the wait. Callbacks
    for it that arrive while a signal to it is on its way are gathered over the window, as a
    campaign batch's are.

    Every HTTP request still waits for the signal that carries its callback, so a provider is
    told 200 only once its callback reached Temporal (and 503 if it could not).
    """

    def __init__(
        self,
        signaller: CallbackSignaller,
        window_seconds: float = COALESCE_WINDOW_SECONDS,
        max_callbacks: int = COALESCE_MAX_CALLBACKS,
    ) -> None:
        self._signaller = signaller
        self._window = window_seconds
        self._max_callbacks = max_callbacks
        self._pending: dict[str, _PendingSignal] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._signalling: Counter[str] = Counter()
        self.signals_sent = 0

    async def deliver(self, workflow_id: str, callback: SimCallback) -> bool:
        """Queue `callback` for its workflow and wait until the signal carrying it is sent."""
        pending = self._pending.get(workflow_id)
        if pending is None:
            pending = _PendingSignal()
            self._pending[workflow_id] = pending
            at_once = is_sim_workflow_id(workflow_id) and not self._signalling[workflow_id]
            pending.flush = asyncio.get_running_loop().call_later(
                0.0 if at_once else self._window, self._send, workflow_id
            )
        pending.callbacks.append(callback)
        if len(pending.callbacks) >= self._max_callbacks:
            self._send(workflow_id)
        return await asyncio.shield(pending.delivered)

    def _send(self, workflow_id: str) -> None:
        pending = self._pending.pop(workflow_id, None)
        if pending is None:
            return
        if pending.flush is not None:
            pending.flush.cancel()
        self._signalling[workflow_id] += 1
        task = asyncio.create_task(self._signal(workflow_id, pending))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _signal(self, workflow_id: str, pending: _PendingSignal) -> None:
        try:
            delivered = await self._signaller(
                workflow_id, SimCallbackBatch(callbacks=pending.callbacks)
            )
        except Exception as error:  # handed to every waiting request, which answers 503
            pending.delivered.set_exception(error)
        else:
            self.signals_sent += 1
            pending.delivered.set_result(delivered)
        finally:
            self._signalling[workflow_id] -= 1
            if not self._signalling[workflow_id]:
                del self._signalling[workflow_id]


class RecentTokens:
    """A bounded memory of idempotency tokens already signalled by this process, and of those
    being signalled: a duplicate that arrives while the first is on its way waits for it."""

    def __init__(self, capacity: int = DUPLICATE_CACHE_SIZE) -> None:
        self._capacity = capacity
        # A set and the order its tokens came in, not an OrderedDict: under the steady churn of
        # a long campaign (every new token pushing the oldest out) an OrderedDict of 100,000
        # tokens grew from 19 to 35 MiB between 110,000 and 1,100,000 tokens seen; a set with a
        # deque holds 13 MiB, then 17 from 600,000 on (`bench.ingress_tokens_bench`).
        self._tokens: set[str] = set()
        self._arrival: deque[str] = deque()
        self._in_flight: dict[str, asyncio.Future[bool]] = {}

    async def taken(self, token: str) -> bool:
        """Whether a callback with `token` was signalled, waiting for one being signalled (if
        that one fails, this one is not a duplicate: it may be delivered instead)."""
        if token in self._tokens:
            return True
        first = self._in_flight.get(token)
        return first is not None and await asyncio.shield(first)

    def claim(self, token: str) -> asyncio.Future[bool]:
        """Mark `token` as being signalled until `release`."""
        claimed = asyncio.get_running_loop().create_future()
        self._in_flight[token] = claimed
        return claimed

    def release(self, token: str, claimed: asyncio.Future[bool], *, taken: bool) -> None:
        """End the claim: remember `token` when its callback was `taken` (signalled, or its
        workflow is gone), and answer the duplicates that waited."""
        if self._in_flight.get(token) is claimed:
            del self._in_flight[token]
        claimed.set_result(taken)
        if taken and token not in self._tokens:
            self._tokens.add(token)
            self._arrival.append(token)
            if len(self._arrival) > self._capacity:
                self._tokens.discard(self._arrival.popleft())

    def __len__(self) -> int:
        """How many tokens are remembered (at most the capacity)."""
        return len(self._tokens)


class CallbackIngress:
    """The aiohttp application that receives provider callbacks.

    A callback naming an account with no provider secret is refused (403) unless
    `allow_unsigned`; `check_provider_secrets` says so before a process starts serving.
    """

    def __init__(
        self,
        settings: SimopsSettings,
        signaller: CallbackSignaller,
        *,
        allow_unsigned: bool = False,
    ) -> None:
        if settings.callback_secret is None:
            raise ValueError("SIMOPS_CALLBACK_SECRET must be set to run the callback ingress")
        self._settings = settings
        self._secret = settings.callback_secret.get_secret_value()
        self._allow_unsigned = allow_unsigned
        self._coalescer = CallbackCoalescer(signaller)
        self._recent = RecentTokens()
        self.counts: Counter[str] = Counter()

    @property
    def signals_sent(self) -> int:
        """How many signals carried the callbacks taken so far."""
        return self._coalescer.signals_sent

    def app(self) -> web.Application:
        """The application: the callback route and a health route with counters."""
        application = web.Application(client_max_size=MAX_CALLBACK_BYTES)
        route = CALLBACK_PATH_PREFIX + "/{workflow_id}/{token}"
        application.router.add_post(route, self._handle)
        application.router.add_get(route, self._handle)
        application.router.add_get("/healthz", self._health)
        return application

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "callbacks": dict(self.counts)})

    async def _deliver(self, workflow_id: str, callback: SimCallback) -> bool | None:
        """Signal `callback` (coalesced): whether its workflow was there, `None` when Temporal
        could not be reached (the provider sends it again)."""
        try:
            return await self._coalescer.deliver(workflow_id, callback)
        except RPCError as error:
            log.error("callback for %r not delivered: Temporal answered %s", workflow_id, error)
            return None

    def _answer(self, outcome: str, status: int) -> web.Response:
        self.counts[outcome] += 1
        metrics.CALLBACKS.labels(outcome=outcome).inc()
        return web.json_response({"outcome": outcome}, status=status)

    def _signed_url(self, request: web.Request) -> str:
        # Behind a proxy the provider signed the public URL, not the one this process sees.
        # The path and query stay as sent: `request.url` re-encodes them (`%2C` → `,`), and
        # the signature is over the bytes the provider requested.
        base = self._settings.callback_base_url or f"{request.scheme}://{request.host}"
        return base.rstrip("/") + request.raw_path

    def _signatures_valid(
        self, request: web.Request, raw_body: bytes, params: list[tuple[str, str]], account: str
    ) -> bool:
        url = self._signed_url(request)
        kore_secret = self._settings.webhook_secret_for(account)
        auth_token = self._settings.twilio_auth_token_for(account)
        if kore_secret is None and auth_token is None:
            # A callback naming an account with no secret is not the provider's, unless the
            # operator chose to run without provider signatures.
            return self._allow_unsigned
        if kore_secret is not None and not verify_kore_signature(
            kore_secret, request.method, url, raw_body, request.headers.get(KORE_SIGNATURE_HEADER)
        ):
            return False
        signed_params = params if request.method == "POST" else []
        return auth_token is None or verify_twilio_signature(
            auth_token, url, signed_params, request.headers.get(TWILIO_SIGNATURE_HEADER)
        )

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        workflow_id = request.match_info["workflow_id"]
        if not is_authentic(self._secret, workflow_id, request.match_info["token"]):
            log.warning("callback refused: forged callback URL for workflow %r", workflow_id)
            return self._answer("forged", 403)
        try:
            raw_body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._answer("malformed", 413)
        if request.method == "POST":
            params = parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        else:
            params = parse_qsl(request.query_string, keep_blank_values=True)
        fields = dict(params)
        try:
            callback = SimCallback(
                sim_sid=fields["SimSid"],
                sim_status=fields["SimStatus"],
                account_sid=fields.get("AccountSid"),
                sim_unique_name=fields.get("SimUniqueName") or None,
                idempotency_token=request.headers.get(KORE_IDEMPOTENCY_HEADER),
            )
        except (KeyError, ValidationError):
            log.warning("callback refused: malformed callback for workflow %r", workflow_id)
            return self._answer("malformed", 400)
        if not self._signatures_valid(request, raw_body, params, callback.account_sid or ""):
            log.warning("callback refused: bad provider signature for workflow %r", workflow_id)
            return self._answer("forged", 403)
        token = callback.idempotency_token
        if token is None:
            delivered = await self._deliver(workflow_id, callback)
        else:
            if await self._recent.taken(token):
                return self._answer("duplicate", 200)
            claimed = self._recent.claim(token)
            delivered = None
            try:
                delivered = await self._deliver(workflow_id, callback)
            finally:
                self._recent.release(token, claimed, taken=delivered is not None)
        if delivered is None:
            return self._answer("unavailable", 503)
        metrics.CALLBACK_SIGNAL_SECONDS.observe(time.monotonic() - arrived)
        if not delivered:
            log.info("callback for closed or unknown workflow %r dropped", workflow_id)
            return self._answer("no_workflow", 200)
        return self._answer("signalled", 200)
