"""The notifier: one process running a Litestar app (SSE) and a FastStream consumer.

tapmask-notifier            # reads TAPMASK_* settings (see settings.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy
from litestar import Litestar, Response, get
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import REGISTRY, CollectorRegistry

from tapmask_notifier.controllers.sse import JobLookup, sse_routes
from tapmask_notifier.gateway_client import GatewayJobs
from tapmask_notifier.handlers import ReplayRecent, apply_event
from tapmask_notifier.hub import Hub
from tapmask_notifier.metrics import NotifierMetrics
from tapmask_notifier.settings import Settings
from tapmask_runtime.kafka import (
    consumer_lag,
    declared_topic,
    ensure_topics,
    make_broker,
    topics_used,
)
from tapmask_runtime.logging import configure_logging
from tapmask_runtime.metrics import render_latest
from tapmask_runtime.settings import require_token_secret
from tapmask_runtime.tracing import configure_tracing
from tapmask_schemas.topics import JOB_FAILED, JOB_PROGRESS, VIDEO_READY

log = logging.getLogger("tapmask.notifier")

_UNTRACED = ("/livez", "/api/health", "/metrics")
# Requests by route template and status with their latency (Litestar's middleware). An SSE
# stream counts once, when it closes, with its whole duration.
_HTTP_METRICS = PrometheusConfig(
    app_name="tapmask-notifier", prefix="tapmask_http", group_path=True, exclude=list(_UNTRACED)
)


async def _sample_lag(subscriber: Any, metrics: NotifierMetrics, hub: Hub) -> None:
    while True:
        await asyncio.sleep(10)
        metrics.jobs.set(len(hub))
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        with contextlib.suppress(Exception):
            for tp, lag in (await consumer_lag(consumer)).items():
                metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)


def create_app(
    settings: Settings, *, broker: KafkaBroker | None = None, lookup: JobLookup | None = None
) -> Litestar:
    """The SSE app with its Kafka consumer started and stopped with it. ``lookup``
    (default: the gateway at TAPMASK_GATEWAY_URL, if set) gives unknown jobs' state."""
    opts = settings.notifier
    hub = Hub(opts.ring_size, opts.queue_size, opts.max_jobs, idle_ttl_s=max(opts.history_s, 600))
    metrics = NotifierMetrics(CollectorRegistry())
    real_kafka = broker is None  # tests hand in an in-memory one: no topics to create
    broker = broker or make_broker(
        settings.kafka, logger=logging.getLogger("tapmask.notifier.faststream")
    )
    router = KafkaRouter(
        prefix=settings.kafka.topic_prefix,  # TAPMASK_KAFKA__TOPIC_PREFIX
        # FastStream's own Prometheus middleware, as in the workers: events received by topic
        # and each one's processing time, in the registry /metrics serves. On the router, so
        # it counts on whichever broker the app is given.
        middlewares=(KafkaPrometheusMiddleware(registry=metrics.registry, app_name="notifier"),),
    )
    # A group of its own per process: every replica must see every event (fan-out).
    group = f"tapmask-notifier-{socket.gethostname()}-{uuid4().hex[:8]}"
    subscriber = router.subscriber(
        *(declared_topic(t, settings.kafka) for t in (JOB_PROGRESS, VIDEO_READY, JOB_FAILED)),
        group_id=group,
        ack_policy=AckPolicy.MANUAL,  # never commits: a restart replays history instead
        auto_offset_reset="latest",
        listener=ReplayRecent(lambda: subscriber.consumer, opts.history_s),
    )

    @subscriber
    async def on_event(msg: KafkaMessage) -> None:
        status = apply_event(hub, bytes(msg.body or b""))
        metrics.events.labels(status or "", "sent" if status else "dropped").inc()

    broker.include_router(router)

    gateway = None
    if lookup is None and settings.gateway_url:
        gateway = lookup = GatewayJobs(settings.gateway_url)

    @get("/metrics", include_in_schema=False)
    async def prometheus() -> Response[bytes]:
        metrics.jobs.set(len(hub))
        body, content_type = render_latest(metrics.registry)
        # + the default registry: Litestar's HTTP request metrics (count and latency by route).
        return Response(body + render_latest(REGISTRY)[0], media_type=content_type)

    @get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        """Liveness: the process answers. Kafka is /api/health's business (readiness): a
        broker outage must not restart every notifier and cut every open stream."""
        return {"status": "alive"}

    @get("/api/health")
    async def health() -> Response[dict[str, Any]]:
        consumer = getattr(subscriber, "consumer", None)
        ok = consumer is not None and bool(consumer.assignment())
        return Response(
            {"status": "ok" if ok else "starting", "kafka": ok, "jobs": len(hub)},
            status_code=200 if ok else 503,
        )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if real_kafka:
            # Its topics with their retention (tapmask_runtime.kafka), before it subscribes.
            await ensure_topics(settings.kafka, topics_used(broker))
        await broker.start()
        lag = asyncio.create_task(_sample_lag(subscriber, metrics, hub))
        try:
            yield
        finally:
            lag.cancel()
            await broker.stop()
            if gateway is not None:
                await gateway.aclose()

    app = Litestar(
        route_handlers=[*sse_routes(hub, settings, metrics, lookup), prometheus, health, livez],
        lifespan=[lifespan],
        middleware=[_HTTP_METRICS.middleware],
        # A span per request; the events themselves join each job's trace through Kafka.
        plugins=[OpenTelemetryPlugin(OpenTelemetryConfig(exclude=list(_UNTRACED)))],
        logging_config=None,  # JSON lines from configure_logging in main()
    )
    app.state.hub = hub
    app.state.metrics = metrics
    return app


#: How ``main`` serves the app (tests serve it the same way). ``proxy_headers`` off: uvicorn
#: by default rewrites the peer from X-Forwarded-For when it comes from 127.0.0.1, which let
#: any local process name itself a new client per stream, past the per-client cap (issue
#: 18); the header is judged by ``TAPMASK_NOTIFIER__TRUSTED_PROXIES`` alone.
UVICORN_OPTIONS: dict[str, Any] = {
    "log_config": None,  # keep our JSON logging
    "timeout_graceful_shutdown": 5,
    "proxy_headers": False,
}


def main() -> None:
    import uvicorn

    settings = Settings()
    configure_logging("notifier", settings.log)
    weak = require_token_secret(
        "tapmask-notifier", settings.token_secret.get_secret_value(), settings.dev_mode
    )
    if weak:
        log.warning("development mode: %s", weak)
    configure_tracing("tapmask-notifier")  # off unless OTEL_TRACES_EXPORTER is set
    uvicorn.run(
        create_app(settings),
        host=settings.notifier.host,
        port=settings.notifier.port,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
