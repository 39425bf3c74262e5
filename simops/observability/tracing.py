"""Optional OpenTelemetry tracing (`pip install 'simops[tracing]'`, `SIMOPS_TRACING=1`).

Temporal's `TracingInterceptor` on the client carries the trace from where a workflow is started
(the CLI) through the workflow into each activity, and the Super SIM client adds a span for
every API request inside the activity: one SIM's operation is one trace.
Spans are exported over OTLP/HTTP, configured by the standard `OTEL_*` environment variables
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`...).

OpenTelemetry is an optional dependency, so it is imported only when tracing is turned on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from temporalio.client import Interceptor

from simops.runtime.settings import SimopsSettings

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from yarl import URL

DEFAULT_SERVICE_NAME = "simops"


class TracingUnavailableError(RuntimeError):
    """`SIMOPS_TRACING` is on but the `tracing` extra is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "SIMOPS_TRACING is set but OpenTelemetry is not installed: "
            "pip install 'simops[tracing]'"
        )


def configure_tracing(settings: SimopsSettings) -> None:
    """With tracing on, export this process's spans over OTLP (the global tracer provider)."""
    if not settings.tracing:
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise TracingUnavailableError() from error
    # `Resource.create` reads OTEL_RESOURCE_ATTRIBUTES; the name given here would override
    # OTEL_SERVICE_NAME, so it is read first.
    name = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def client_interceptors(settings: SimopsSettings) -> list[Interceptor]:
    """The Temporal client interceptors tracing needs (none when it is off); a worker built on
    the client uses them too."""
    if not settings.tracing:
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as error:
        raise TracingUnavailableError() from error
    return [TracingInterceptor()]


class ClientSpan:
    """The span of one API request, told the status it was answered with."""

    def __init__(self, span: Span) -> None:
        self._span = span

    def answered(self, status: int) -> None:
        """Record the response's status (an error status marks the span as failed)."""
        self._span.set_attribute("http.response.status_code", status)
        if status >= 400:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR))


class ClientSpans:
    """A CLIENT span per Super SIM API request, under the span current where it is sent (the
    activity's): its method and URL, never the URL's query (a query may name a SIM by its full
    ICCID, which must not reach a tracing backend)."""

    def __init__(self) -> None:
        from opentelemetry import trace

        self._tracer = trace.get_tracer("simops.supersim")
        self._client_kind = trace.SpanKind.CLIENT

    @contextmanager
    def request(self, method: str, url: URL) -> Iterator[ClientSpan]:
        """The span of one request, open while it is sent and answered."""
        attributes = {"http.request.method": method, "url.full": str(url.with_query(None))}
        with self._tracer.start_as_current_span(
            method, kind=self._client_kind, attributes=attributes
        ) as span:
            yield ClientSpan(span)


def client_spans(settings: SimopsSettings) -> ClientSpans | None:
    """The API request spans (none when tracing is off)."""
    if not settings.tracing:
        return None
    try:
        return ClientSpans()
    except ImportError as error:
        raise TracingUnavailableError() from error
