"""Sending one API call: authorization, the account's budget, typed errors and bounded retries.

Retry rules (the API has no idempotency key, so a write is repeated only when it surely was not
processed):

- 429: retried by every call after the wait the budget gives (`Retry-After` when the API sends
  one), up to `api_max_rate_limit_retries` times: a 429 is never processed. A wait longer than
  `api_max_retry_after_seconds` is not spent here: the error goes to the caller with its
  `retry_after` (a Temporal activity then schedules its next attempt that late).
- 401 with renewable credentials (OAuth2): the token is renewed once and the call sent again;
  a request the API refused as unauthenticated was not processed either.
- 5xx and transport errors: retried up to `api_max_retries` times with exponential backoff and
  jitter, but only by calls that are safe to repeat (reads). A write raises the typed error at
  once: it may have been applied, and only the caller (a Temporal activity that re-reads the SIM
  and asks the planner) can tell whether to send it again.
- A failure to obtain a token is retried like a 5xx by every call: nothing was sent yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from yarl import URL

from simops.observability import metrics
from simops.observability.tracing import ClientSpans, client_spans
from simops.runtime.http_client import HttpClient
from simops.runtime.settings import SimopsSettings
from simops.supersim.auth import AuthProvider
from simops.supersim.errors import (
    AuthenticationError,
    RateLimitedError,
    SuperSimError,
    TransportError,
    error_from_response,
)
from simops.supersim.http import Exchange, exchange
from simops.supersim.pacing import RequestBudget
from simops.supersim.wire import FormParameters

BeforeSend = Callable[[], Awaitable[None]]
"""Called once a request's slot is granted, immediately before it is sent; what it raises
ends the call unsent (a campaign's last check before a first write)."""

logger = logging.getLogger(__name__)

USER_AGENT = "simops/0.1"


@dataclass(frozen=True, slots=True)
class _Failure:
    error: SuperSimError
    authorization: str | None = None
    """The credential the request was sent with; `None` when it was never sent."""
    rate_limit_delay: float = 0.0


class ApiTransport:
    """The request loop every client call goes through, on one shared `HttpClient`."""

    def __init__(
        self,
        settings: SimopsSettings,
        *,
        auth: AuthProvider,
        budget: RequestBudget,
        http: HttpClient | None = None,
    ) -> None:
        self.base_url = URL(settings.api_url.rstrip("/"))
        self.auth = auth
        self.budget = budget
        self._max_retries = settings.api_max_retries
        self._max_rate_limit_retries = settings.api_max_rate_limit_retries
        self._max_wait = settings.api_max_retry_after_seconds
        # No connection limit: the budget is the one cap on concurrent requests, and a pool
        # limit below it would only queue requests where their timeout already runs.
        self.http = http or HttpClient(
            timeout_seconds=settings.api_timeout_seconds,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._owns_http = http is None
        self._spans: ClientSpans | None = client_spans(settings)

    async def close(self) -> None:
        """Close the connections if this transport opened them."""
        if self._owns_http:
            await self.http.close()

    def url(self, path: str) -> URL:
        """The URL of an API path (already percent-encoded), e.g. `Sims/HS…`."""
        return URL(f"{self.base_url}/{path}", encoded=True)

    def follow(self, page_url: str) -> URL:
        """A `next_page_url`, kept verbatim; refused when it leaves the API's origin.

        Following it elsewhere would hand the account's credentials to another host.
        """
        api_origin = str(self.base_url.origin())
        if not (page_url.isascii() and page_url.isprintable()) or " " in page_url:
            raise TransportError("the API answered with a page URL that has unencoded characters")
        try:
            target = URL(page_url, encoded=True)
            if not target.is_absolute():
                target = self.base_url.origin().join(target)
            # yarl parses the host and port lazily: `str` is where a malformed one fails.
            origin = str(target.origin())
        except ValueError as error:
            raise TransportError(
                f"the API answered with a page URL that is not one: {error}"
            ) from None
        if origin != api_origin:
            raise TransportError(
                f"refusing to follow a page URL on {origin}: the API is at {api_origin}"
            )
        return target

    async def request(
        self,
        method: str,
        url: URL,
        *,
        params: FormParameters | None = None,
        form: FormParameters | None = None,
        repeatable: bool,
        before_send: BeforeSend | None = None,
    ) -> Exchange:
        """Send one call with the retries above; a 2xx response or a typed error.

        `repeatable` says whether sending the call twice is harmless (true for reads).
        `before_send` runs once the budget granted each attempt its slot (after any pacing
        wait), immediately before the request goes out; what it raises ends the call unsent.
        """
        failures = 0
        rate_limited = 0
        renewed = False
        while True:
            outcome = await self._attempt(method, url, params, form, rate_limited, before_send)
            if isinstance(outcome, Exchange):
                return outcome
            error = outcome.error
            if isinstance(error, RateLimitedError):
                if (
                    rate_limited >= self._max_rate_limit_retries
                    or outcome.rate_limit_delay > self._max_wait
                ):
                    raise error
                rate_limited += 1
                await self._back_off(method, url, error, outcome.rate_limit_delay)
            elif outcome.authorization is not None and self._unauthenticated(error):
                if renewed or not await self.auth.rejected(outcome.authorization):
                    raise error
                renewed = True
            elif (
                error.retryable
                and (repeatable or outcome.authorization is None)
                and failures < self._max_retries
            ):
                await self._back_off(method, url, error, self.budget.backoff(failures))
                failures += 1
            else:
                raise error

    @staticmethod
    def _unauthenticated(error: SuperSimError) -> bool:
        return isinstance(error, AuthenticationError) and error.http_status == 401

    async def _attempt(
        self,
        method: str,
        url: URL,
        params: FormParameters | None,
        form: FormParameters | None,
        rate_limited: int,
        before_send: BeforeSend | None,
    ) -> Exchange | _Failure:
        async with self.budget.slot() as slot:
            if before_send is not None:
                await before_send()
            # The credential is read once the slot is granted, not before waiting for it, so a
            # request that queued behind the budget never leaves with a token that expired
            # while it waited.
            try:
                authorization = await self.auth.authorization(self.http)
            except SuperSimError as token_error:
                return _Failure(token_error)
            try:
                response = await self._exchange(method, url, authorization, params, form)
            except TransportError as transport_error:
                metrics.record_api_answer(method, None)
                return _Failure(transport_error, authorization)
            metrics.record_api_answer(method, response.status)
            if response.status < 400:
                slot.succeeded()
                return response
            error = error_from_response(response.status, response.body, response.headers)
            if isinstance(error, RateLimitedError):
                delay = slot.rate_limited(error.retry_after, rate_limited)
                return _Failure(error, authorization, delay)
            if response.status < 500:
                # The API processed the request and refused it: the account is not overloaded.
                slot.succeeded()
            return _Failure(error, authorization)

    async def _exchange(
        self,
        method: str,
        url: URL,
        authorization: str,
        params: FormParameters | None,
        form: FormParameters | None,
    ) -> Exchange:
        headers = {"Authorization": authorization}
        if self._spans is None:
            return await exchange(self.http, method, url, headers=headers, params=params, form=form)
        with self._spans.request(method, url) as span:
            response = await exchange(
                self.http, method, url, headers=headers, params=params, form=form
            )
            span.answered(response.status)
            return response

    async def _back_off(self, method: str, url: URL, error: SuperSimError, delay: float) -> None:
        metrics.record_retry_wait(rate_limited=isinstance(error, RateLimitedError), seconds=delay)
        logger.info(
            "retrying %s %s in %.2f s after %s: %s",
            method,
            url.path,
            delay,
            type(error).__name__,
            error.message,
        )
        await asyncio.sleep(delay)
