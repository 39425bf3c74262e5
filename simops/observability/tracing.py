"""Optional OpenTelemetry tracing (`pip install 'simops[tracing]'`, `SIMOPS_TRACING=1`).

Temporal's `TracingInterceptor` on the client carries the trace from where a workflow is started
(the CLI) through the workflow into each activity, and the aiohttp client instrumentation adds a
span for every Super SIM API request inside the activity: one SIM's operation is one trace.
Spans are exported over OTLP/HTTP, configured by the standard `OTEL_*` environment variables
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`...).

OpenTelemetry is an optional dependency, so it is imported only when tracing is turned on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from temporalio.client import Interceptor

from simops.runtime.settings import SimopsSettings

if TYPE_CHECKING:
    # Named in annotations only: every command that connects to Temporal imports this
    # module, and most make no API request (aiohttp is a large import).
    import aiohttp
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


def _without_query(url: URL) -> str:
    # A query may name a SIM by its full ICCID: a span must not carry it to a tracing backend.
    return str(url.with_query(None))


def http_trace_configs(settings: SimopsSettings) -> list[aiohttp.TraceConfig]:
    """The aiohttp trace configs for API requests (none when tracing is off)."""
    if not settings.tracing:
        return []
    try:
        from opentelemetry.instrumentation.aiohttp_client import create_trace_config
    except ImportError as error:
        raise TracingUnavailableError() from error
    return [create_trace_config(url_filter=_without_query)]
