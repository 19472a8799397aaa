"""Traces as an operator sees them: off unless asked for, one trace per job whose id is the
job id, carried through Kafka headers, and named in the JSON log lines (the whole system on
the local stack: tests/e2e/test_job_trace.py)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tapmask_runtime.kafka import make_broker
from tapmask_runtime.logging import configure_logging
from tapmask_runtime.settings import KafkaSettings
from tapmask_runtime.tracing import configure_tracing, job_span, job_trace_id, tracing_on

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    # The global provider can be set once per process; the in-memory exporter is cleared
    # before each test.
    configure_tracing("tapmask-test", processor=SimpleSpanProcessor(EXPORTER))
    yield EXPORTER


@pytest.fixture
def exporter(spans: InMemorySpanExporter) -> InMemorySpanExporter:
    spans.clear()
    return spans


@pytest.mark.parametrize("value", [None, "none", ""])
def test_tracing_is_off_unless_an_exporter_is_named(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    else:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", value)
    assert configure_tracing("tapmask-gateway") is None


def test_http_apps_see_tracing_on_only_once_a_provider_is_installed(
    spans: InMemorySpanExporter,
) -> None:
    """What the gateway asks before adding OpenTelemetry's request middleware: off in a
    process started without OTEL_TRACES_EXPORTER, on once configure_tracing installed one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    off = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tapmask_runtime.tracing import configure_tracing, tracing_on;"
            "configure_tracing('tapmask-gateway'); print(tracing_on())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert off.stdout.strip() == "False"
    assert tracing_on()


def test_an_unknown_exporter_is_refused_in_plain_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER='zipkin' is not supported"):
        configure_tracing("tapmask-gateway")


async def test_a_jobs_trace_id_is_its_id_and_crosses_kafka_in_the_headers(
    exporter: InMemorySpanExporter,
) -> None:
    job = uuid.uuid4()
    broker = make_broker(KafkaSettings())
    received: list[dict[str, Any]] = []

    @broker.subscriber("tapmask.job-created", group_id="tapmask-tracker")
    async def on_job(msg: KafkaMessage) -> None:
        received.append(dict(msg.headers))

    async with TestKafkaBroker(broker):
        with job_span("gateway publish tapmask.job-created", job):
            await broker.publish({"job_id": str(job)}, "tapmask.job-created")

    [headers] = received
    trace_id = job_trace_id(job)
    # W3C traceparent: version-traceid-spanid-flags
    assert headers["traceparent"].split("-")[1] == trace_id
    finished = exporter.get_finished_spans()
    assert {f"{s.context.trace_id:032x}" for s in finished} == {trace_id}
    names = {s.name for s in finished}
    assert "gateway publish tapmask.job-created" in names
    assert "tapmask.job-created process" in names
    [root] = [s for s in finished if s.parent is None]
    assert root.name == "gateway publish tapmask.job-created"
    assert root.attributes is not None and root.attributes["tapmask.job_id"] == str(job)


def test_two_jobs_are_two_traces_even_when_one_is_published_inside_the_other(
    exporter: InMemorySpanExporter,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    with job_span("a", first), job_span("b", second):
        pass
    ids = {s.name: f"{s.context.trace_id:032x}" for s in exporter.get_finished_spans()}
    assert ids == {"a": job_trace_id(first), "b": job_trace_id(second)}


def test_log_lines_name_the_trace_they_were_written_in(
    exporter: InMemorySpanExporter,
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging("gateway", stream=out)
    try:
        job = uuid.uuid4()
        logging.getLogger("t").info("outside")
        with job_span("publish", job) as span:
            logging.getLogger("t").info("inside")
    finally:
        root.handlers[:], root.level = saved

    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert outside["trace_id"] is None
    assert inside["trace_id"] == job_trace_id(job)
    assert inside["span_id"] == f"{span.get_span_context().span_id:016x}"
