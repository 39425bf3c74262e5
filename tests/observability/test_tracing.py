"""Tracing: one SIM operation on the dev server is one trace, from the client's start of the
workflow through the workflow and its activities to each Super SIM API request, exported to an
in-memory exporter."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from simops.clients.sims import start_sim_operation
from simops.contract import sim_workflow_id
from simops.core.sim import OutcomeKind, SimStatus
from simops.devstack.in_process import emulator_settings, local_stack
from simops.emulator.server import RunningEmulator
from simops.observability.tracing import client_interceptors
from simops.runtime.temporal import connect
from simops.sim_messages import SimOperationRequest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's global tracer provider, exporting to memory (it can be set only once)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        ancestor = by_id[parent.span_id]
        names.append(ancestor.name)
        parent = ancestor.parent
    return names


async def test_one_sim_operation_is_one_trace_down_to_the_api_requests(
    spans: InMemorySpanExporter, dev_env: WorkflowEnvironment, emulator: RunningEmulator
) -> None:
    target = dev_env.client.service_client.config.target_host
    settings = emulator_settings(emulator, temporal_address=target, tracing=True)
    client = await connect(settings, interceptors=client_interceptors(settings))
    async with local_stack(client, emulator, tracing=True) as stack:
        (sim,) = [sim async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=1)]
        spans.clear()
        request = SimOperationRequest(
            sim_sid=sim.sid,
            operation="activate",
            status=SimStatus.ACTIVE,
            fleet=emulator.parent.fleets[0],
        )
        handle = await start_sim_operation(client, stack.settings.task_queue, request)
        outcome = await handle.result()

    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}
    (start,) = [span for span in finished if span.name == "StartWorkflow:SimOperation"]
    trace_id = start.context.trace_id
    in_trace = [span for span in finished if span.context.trace_id == trace_id]
    requests = [span for span in in_trace if span.kind == trace.SpanKind.CLIENT and _http(span)]
    methods = {_http(span)["method"] for span in requests}

    assert outcome.outcome == OutcomeKind.CONVERGED
    assert start.attributes is not None
    assert start.attributes["temporalWorkflowID"] == sim_workflow_id(sim.sid)
    assert {"GET", "POST"} <= methods, [span.name for span in in_trace]
    for span in requests:
        chain = _ancestors(span, by_id)
        assert chain[-1] == "StartWorkflow:SimOperation", chain
        assert any(name.startswith("RunActivity:") for name in chain), chain
        assert "?" not in _http(span)["url"], "a request's query (an ICCID) reached a span"
    # Nothing the operation did left the trace: every span naming its workflow is in it.
    for span in finished:
        if span.attributes and span.attributes.get("temporalWorkflowID") == sim_workflow_id(
            sim.sid
        ):
            assert span.context.trace_id == trace_id or span.name.startswith("SignalWorkflow")


def _http(span: ReadableSpan) -> dict[str, Any]:
    """The method and URL of an HTTP client span (old or new semantic conventions)."""
    attributes = span.attributes or {}
    method = attributes.get("http.request.method") or attributes.get("http.method")
    url = attributes.get("url.full") or attributes.get("http.url")
    return {"method": method, "url": url} if method else {}
