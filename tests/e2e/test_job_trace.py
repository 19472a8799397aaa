"""One job, one trace: the four services on the local stack export their spans over OTLP
(configured only by the standard OTEL_* variables, as an operator would) to a collector this
test stands in for, and every service's spans of the job share one trace id: the job's id.

The services run as their console scripts against the real Kafka, PostgreSQL and S3, as in
test_full_job; the trace context crosses Kafka in message headers only.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_client import upload
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from services_harness import SERVICES, running_services
from test_full_job import CLICK, VIDEOS, excerpt, sse_events

from tapmask_runtime.settings import S3Settings
from tapmask_schemas.topics import VIDEO_READY

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Collector:
    """An OTLP/HTTP trace receiver: what an OpenTelemetry collector gets, decoded."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    for rs in request.resource_spans:
                        attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
                        for ss in rs.scope_spans:
                            for span in ss.spans:
                                collector.spans.append(
                                    {
                                        "service": attrs.get("service.name"),
                                        "name": span.name,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex() or None,
                                    }
                                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


@pytest.fixture(scope="module")
async def traced_system(
    kafka_bootstrap: str,
    postgres_dsn: str,
    s3: S3Settings,
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, Path]]:
    logs = tmp_path_factory.mktemp("traced")
    # Tracing on, by the standard variables only.
    tracing = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    async with running_services(
        kafka_bootstrap,
        postgres_dsn,
        s3,
        logs,
        env=tracing,
        workers_ready=True,
        timeout_s=120,
    ) as gateway:
        yield gateway, logs


async def run_job(gateway: str, clip: Path) -> str:
    data = await asyncio.to_thread(clip.read_bytes)
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as api:
        created = await api.post(
            "/api/jobs",
            json={
                "upload_key": await upload(api, "dog.mp4", data),
                "click_x": CLICK[0],
                "click_y": CLICK[1],
                "processing_mode": "privacy",
                "effect": "blur",
            },
        )
        assert created.status_code == 201, created.text
        job = created.json()
        async with asyncio.timeout(240):
            events = await sse_events(api, job["events_url"])
        assert events[-1]["data"]["status"] == "completed", events[-3:]
        return str(job["job_id"])


async def test_a_jobs_spans_in_all_four_services_share_one_trace_the_job_id(
    traced_system: tuple[str, Path], collector: Collector, tmp_path: Path
) -> None:
    gateway, logs = traced_system
    clip = excerpt(VIDEOS / "01_dog.mp4", tmp_path / "dog.mp4", 12, 640, 360)

    job_id = await run_job(gateway, clip)
    trace_id = uuid.UUID(job_id).hex

    wanted = {f"tapmask-{s}" for s in SERVICES}
    # The last hop: the renderer's video-ready, received by the notifier.
    last = {
        ("tapmask-renderer", f"{VIDEO_READY} publish"),
        ("tapmask-notifier", f"{VIDEO_READY} process"),
    }

    def seen(spans: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """(service, "<topic> <operation>"), the run's topic prefix taken off."""
        return {(s["service"], s["name"].split(".", 1)[1]) for s in spans if "." in s["name"]}

    for _ in range(150):  # the exporters send in batches every 200 ms
        spans = collector.of_trace(trace_id)
        if {s["service"] for s in spans} == wanted and last <= seen(spans):
            break
        await asyncio.sleep(0.2)
    assert last <= seen(spans), sorted(seen(spans))

    assert {s["service"] for s in spans} == wanted
    # One tree: a single root (the gateway's publish of job-created), every other span's
    # parent exported in the same trace, whichever service it ran in.
    ids = {s["span_id"] for s in spans}
    roots = [s for s in spans if s["parent"] is None]
    assert [r["service"] for r in roots] == ["tapmask-gateway"], roots
    orphans = [s for s in spans if s["parent"] is not None and s["parent"] not in ids]
    assert orphans == [], orphans
    # The workers' spans hang under the Kafka messages that reached them, and each stage's
    # whole run is a span of its own.
    for worker in ("tracker", "renderer"):
        names = {s["name"] for s in spans if s["service"] == f"tapmask-{worker}"}
        assert any("process" in n for n in names), names
        assert f"{worker} stage" in names, names

    # The job's log lines carry its trace id: from a log line to the trace.
    for service in ("gateway", "tracker", "renderer"):
        lines = [
            json.loads(line)
            for line in (logs / f"{service}.log").read_text().splitlines()
            if line.startswith("{")
        ]
        mine = [line for line in lines if line.get("job_id") == job_id]
        if service == "gateway":
            # Its HTTP requests are traces of their own; the job's starts at the publish.
            mine = [line for line in mine if line["message"].startswith("published")]
        assert mine, service
        assert {line["trace_id"] for line in mine} == {trace_id}, service
