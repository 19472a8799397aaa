"""OpenTelemetry traces: one trace per job, from the gateway through Kafka to every worker.

Off by default: with ``OTEL_TRACES_EXPORTER`` unset (or ``none``) no provider is installed
and OpenTelemetry's API stays the no-op it ships as (no spans, no export, nothing to pay).
Turn it on with the standard variables, read by the OpenTelemetry SDK itself::

    OTEL_TRACES_EXPORTER=otlp                         # or console
    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 # OTLP over HTTP (protobuf)
    OTEL_SERVICE_NAME=...  OTEL_RESOURCE_ATTRIBUTES=...  OTEL_TRACES_SAMPLER=...

The context crosses Kafka in each message's headers (W3C ``traceparent``), written and read
by FastStream's ``KafkaTelemetryMiddleware`` that every broker carries (``make_broker``).

Why the trace id of a job *is* its job id: the gateway's event leaves through a
transactional outbox, published by a relay long after the HTTP request that created the job
(another task, maybe another replica), so no span of the request is there to parent it.
Both ids are 128 bits, so ``job_span`` starts the job's root span with the job id as trace id:
an operator pastes a job id from a log line or a support mail into the trace viewer, and
nothing has to be stored beside the outbox row.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

log = logging.getLogger("tapmask.tracing")

TRACER_NAME = "tapmask"

# The trace id the next root span takes (the job's id), set only inside ``job_span``.
_root_trace_id: ContextVar[int | None] = ContextVar("tapmask_root_trace_id", default=None)


class JobTraceIds(RandomIdGenerator):
    """Random ids, except that a root span opened by ``job_span`` takes the job id."""

    def generate_trace_id(self) -> int:
        wanted = _root_trace_id.get()
        return wanted if wanted else super().generate_trace_id()


def job_trace_id(job_id: UUID | str) -> str:
    """The trace id (32 hex digits, as trace viewers show it) of a job's trace."""
    return UUID(str(job_id)).hex


def _exporter_from_env() -> SpanExporter | None:
    """The exporter ``OTEL_TRACES_EXPORTER`` names (the SDK's own names), or None: off."""
    names = [
        n.strip().lower()
        for n in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if n.strip()
    ]
    if not names or names == ["none"]:
        return None
    name = names[0]
    if name in ("otlp", "otlp_proto_http"):
        # Endpoint, headers, timeout, compression: OTEL_EXPORTER_OTLP_* read by the exporter.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        # stderr: stdout carries the JSON-lines logs.
        return ConsoleSpanExporter(out=sys.stderr)
    raise ValueError(
        f"OTEL_TRACES_EXPORTER={name!r} is not supported here: use otlp, console or none"
    )


def configure_tracing(
    service: str, *, processor: SpanProcessor | None = None
) -> TracerProvider | None:
    """Install the global tracer provider for ``service`` when tracing is on.

    ``processor`` (tests: a ``SimpleSpanProcessor`` over an ``InMemorySpanExporter``) turns
    it on whatever the environment says. Returns the provider, or None when tracing is off.
    ``OTEL_SERVICE_NAME`` overrides ``service`` (the SDK's precedence)."""
    if processor is None:
        exporter = _exporter_from_env()
        if exporter is None:
            return None
        processor = BatchSpanProcessor(exporter)  # OTEL_BSP_* tune it
    resource = Resource.create({SERVICE_NAME: service}).merge(
        Resource.create({SERVICE_NAME: os.environ["OTEL_SERVICE_NAME"]})
        if os.environ.get("OTEL_SERVICE_NAME")
        else Resource.get_empty()
    )
    provider = TracerProvider(resource=resource, id_generator=JobTraceIds())
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    log.info("tracing on: spans of %s exported", service)
    return provider


def tracing_on() -> bool:
    """Whether ``configure_tracing`` installed a provider (spans are recorded and exported).

    An HTTP app asks this to leave OpenTelemetry's request middleware out while tracing is
    off: even with the API's no-op tracer it cost the gateway ~18 % of each request's CPU
    (0.85 -> 0.70 ms on a job status, bursts of 128 new clients, bench/bench_api_load.py's
    gateway measured with and without it)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


@contextmanager
def job_span(name: str, job_id: UUID | str, **attributes: Any) -> Iterator[trace.Span]:
    """A span that starts the job's own trace (trace id = job id), whatever is current.

    Kafka publishes inside it carry the trace on to the next service."""
    token = _root_trace_id.set(UUID(str(job_id)).int)
    try:
        span = trace.get_tracer(TRACER_NAME).start_span(
            name,
            context=Context(),  # a new root, not a child of e.g. the relay's loop
            kind=trace.SpanKind.PRODUCER,
            attributes={"tapmask.job_id": str(job_id), **attributes},
        )
    finally:
        _root_trace_id.reset(token)
    with trace.use_span(span, end_on_exit=True):
        yield span


def stage_span(service: str, job_id: UUID | str) -> Any:
    """The span of a worker's whole stage of a job, in the trace its event carried: the
    Kafka consume span ends as soon as the job is handed to its background task, so this is
    where the trace shows how long the tracking or rendering took (and how it ended)."""
    return trace.get_tracer(TRACER_NAME).start_as_current_span(
        f"{service} stage", attributes={"tapmask.job_id": str(job_id)}
    )


def current_trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the span current here, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
