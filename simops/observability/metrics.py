"""simops' own Prometheus metrics, all named `simops_*`, in prometheus_client's default registry.

Labels stay low-cardinality: an outcome, an HTTP method and status, a campaign ID at most, never
a SIM. The modules that do the work call the `record_*` functions here (one line each), so what a
metric means is written down in one place. The budgets are read when Prometheus scrapes, not
pushed on every request: the request path pays nothing for them.

This module imports nothing of simops: the store, the client and the ingress import it.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

ROWS_ENDED = Counter(
    "simops_rows_ended",
    "Campaign rows recorded as ended, by outcome (as in the report).",
    ["campaign", "action", "outcome"],
)
API_REQUESTS = Counter(
    "simops_api_requests",
    "Super SIM API requests answered, by method and HTTP status ('error': no answer at all).",
    ["method", "status"],
)
API_RETRY_WAIT = Histogram(
    "simops_api_retry_wait_seconds",
    "Waits before sending an API request again: after a 429 (Retry-After when the API sent "
    "one, else backoff) or after a 5xx or a transport error.",
    ["reason"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
CALLBACKS = Counter(
    "simops_callbacks",
    "Provider callbacks answered by the ingress, by outcome: signalled, duplicate, "
    "no_workflow (accepted); forged, malformed, unavailable (refused).",
    ["outcome"],
)
CALLBACK_SIGNAL_SECONDS = Histogram(
    "simops_callback_signal_seconds",
    "From a callback's arrival at the ingress to the signal carrying it reaching Temporal.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SCHEDULED_SECONDS = Histogram(
    "simops_sim_scheduled_seconds",
    "How long a campaign's SIM stayed `scheduled` after a write, until it was read settled.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

STORE_STATEMENTS = Counter(
    "simops_store_statements",
    "Statements sent to the campaign store's database, by backend (sqlite, postgresql) and "
    "kind (the statement's first word: SELECT, INSERT, BEGIN, COMMIT...); an executemany "
    "counts once per parameter set.",
    ["backend", "kind"],
)

RATE_LIMITED = "rate_limited"
FAILED = "failed"
NO_ANSWER = "error"
"""The `status` of a request that got no HTTP answer (timeout, refused connection...)."""

# Both reasons exist from the start, so a dashboard shows 0 waits rather than no data.
for _reason in (RATE_LIMITED, FAILED):
    API_RETRY_WAIT.labels(reason=_reason)


def record_rows_ended(campaign_id: str, action: str, counts: Mapping[str, int]) -> None:
    """Count rows that ended: how many per outcome (outcomes as the report names them)."""
    for outcome, count in counts.items():
        if count:
            ROWS_ENDED.labels(campaign=campaign_id, action=action, outcome=outcome).inc(count)


def record_store_statements(backend: str, statement: str, count: int = 1) -> None:
    """Count statements sent to the campaign store (`count` for an executemany)."""
    _store_statements(backend, statement).inc(count)


@lru_cache(maxsize=1024)
def _store_statements(backend: str, statement: str) -> Counter:
    # The store sends a few hundred distinct statement texts: each is parsed once.
    kind = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "EMPTY"
    return STORE_STATEMENTS.labels(backend, kind)


def record_api_answer(method: str, status: int | None) -> None:
    """Count one API request by its answer (`None`: no answer)."""
    API_REQUESTS.labels(method=method, status=NO_ANSWER if status is None else str(status)).inc()


def record_retry_wait(*, rate_limited: bool, seconds: float) -> None:
    """Record a wait before a request is sent again."""
    API_RETRY_WAIT.labels(reason=RATE_LIMITED if rate_limited else FAILED).observe(seconds)


class WatchedBudget(Protocol):
    """What the budget collector reads of a `RateBudget` (structural: no import of pacing)."""

    @property
    def max_concurrency(self) -> int:
        """The requests in flight it allows at most."""

    @property
    def max_rps(self) -> float:
        """The requests per second it allows at most."""

    def stats(self) -> _BudgetStats:
        """What it granted and what was used."""


class _BudgetStats(Protocol):
    @property
    def granted(self) -> int: ...

    @property
    def rate_limited(self) -> int: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def pace(self) -> float: ...


class BudgetCollector(Collector):
    """The request budgets of this process, read at scrape time.

    `scope` is `account` (the process-wide budget of an API account) or `campaign` (this
    process's share of a campaign's budget); `budget` is the account's budget key or the
    campaign ID. A budget that is no longer used disappears with it (weak references).
    """

    def __init__(self) -> None:
        self._budgets: weakref.WeakValueDictionary[tuple[str, str], WatchedBudget] = (
            weakref.WeakValueDictionary()
        )

    def watch(self, scope: str, name: str, budget: WatchedBudget) -> None:
        """Publish `budget` from now on."""
        self._budgets[(scope, name)] = budget

    def collect(self) -> Iterator[Metric]:
        """One sample per budget of each budget metric."""
        labels = ["scope", "budget"]
        granted_rps = GaugeMetricFamily(
            "simops_budget_rate_limit_rps", "Requests per second the budget grants.", labels=labels
        )
        granted_concurrency = GaugeMetricFamily(
            "simops_budget_concurrency_max",
            "Concurrent requests the budget grants at most.",
            labels=labels,
        )
        # Kept for dashboards that read it: concurrency no longer adapts to 429s (the pace
        # does), so it is the concurrency granted.
        concurrency_now = GaugeMetricFamily(
            "simops_budget_concurrency_limit",
            "Concurrent requests allowed now (the concurrency granted: the pace adapts to 429s).",
            labels=labels,
        )
        adapted = GaugeMetricFamily(
            "simops_budget_pace_rps",
            "Requests per second allowed now (below the rate granted after 429s caused by load).",
            labels=labels,
        )
        in_flight = GaugeMetricFamily(
            "simops_budget_in_flight", "Requests holding a slot of the budget now.", labels=labels
        )
        used = CounterMetricFamily(
            "simops_budget_requests",
            "Request slots granted (requests sent); its rate is the rate used.",
            labels=labels,
        )
        rate_limited = CounterMetricFamily(
            "simops_budget_rate_limited", "429 answers the budget reacted to.", labels=labels
        )
        for (scope, name), budget in list(self._budgets.items()):
            key = [scope, name]
            stats = budget.stats()
            granted_rps.add_metric(key, budget.max_rps)
            granted_concurrency.add_metric(key, budget.max_concurrency)
            concurrency_now.add_metric(key, budget.max_concurrency)
            adapted.add_metric(key, stats.pace)
            in_flight.add_metric(key, stats.in_flight)
            used.add_metric(key, stats.granted)
            rate_limited.add_metric(key, stats.rate_limited)
        yield from (
            granted_rps,
            granted_concurrency,
            concurrency_now,
            adapted,
            in_flight,
            used,
            rate_limited,
        )


BUDGETS = BudgetCollector()
REGISTRY.register(BUDGETS)


CAMPAIGN_SHARE_RPS = Gauge(
    "simops_campaign_share_rps",
    "Requests per second the campaign may send now, every process together: its share of the "
    "account's budget (each worker publishes the same division; take max, not sum).",
    ["account", "campaign"],
)
CAMPAIGN_SHARE_CONCURRENCY = Gauge(
    "simops_campaign_share_concurrency",
    "Requests in flight the campaign may have now, every process together.",
    ["account", "campaign"],
)
CAMPAIGN_SHARE_WEIGHT = Gauge(
    "simops_campaign_share_weight", "The campaign's --weight.", ["account", "campaign"]
)
_SHARE_GAUGES = (CAMPAIGN_SHARE_RPS, CAMPAIGN_SHARE_CONCURRENCY, CAMPAIGN_SHARE_WEIGHT)


def record_campaign_share(
    account: str, campaign_id: str, rate: float, concurrency: int, weight: float
) -> None:
    """Publish a campaign's current share of its account's budget."""
    for gauge, value in zip(_SHARE_GAUGES, (rate, concurrency, weight), strict=True):
        gauge.labels(account=account, campaign=campaign_id).set(value)


def forget_campaign_share(account: str, campaign_id: str) -> None:
    """The campaign draws nothing in this process any more: its share is no longer published."""
    for gauge in _SHARE_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(account, campaign_id)
