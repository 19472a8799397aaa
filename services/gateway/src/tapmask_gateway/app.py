"""The gateway app: create_app(settings) builds it; main() serves it (or manages API keys)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import anyio.to_thread
import httpx
from faststream.kafka import KafkaBroker
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import Scope

from tapmask_gateway.adapters import db
from tapmask_gateway.adapters.kafka import make_broker
from tapmask_gateway.adapters.preview import UploadFrames
from tapmask_gateway.adapters.preview_pool import PreviewPool
from tapmask_gateway.adapters.probe import ProbeCache, S3UploadProbe
from tapmask_gateway.adapters.s3 import GatewayS3, S3Uploads
from tapmask_gateway.background.cleanup import run_cleanup
from tapmask_gateway.background.projector import register_projector
from tapmask_gateway.background.relay import run_relay
from tapmask_gateway.controllers.clients import ClientMiddleware
from tapmask_gateway.controllers.deps import Problem, dependencies
from tapmask_gateway.controllers.health import health, livez, metrics
from tapmask_gateway.controllers.jobs import JobController
from tapmask_gateway.controllers.preview import PreviewController
from tapmask_gateway.controllers.results import ResultController
from tapmask_gateway.controllers.tracking import TrackingController
from tapmask_gateway.controllers.uploads import UploadController
from tapmask_gateway.controllers.web import web_handlers
from tapmask_gateway.domain.quotas import RateLimiter
from tapmask_gateway.domain.tokens import token_hash
from tapmask_gateway.metrics import Metrics
from tapmask_gateway.settings import Settings
from tapmask_gateway.usecases.jobs import JobService
from tapmask_gateway.usecases.uploads import UploadService
from tapmask_runtime.kafka import ensure_topics, topics_used
from tapmask_runtime.logging import configure_logging
from tapmask_runtime.settings import require_token_secret
from tapmask_runtime.streams import StreamSlots
from tapmask_runtime.tracing import configure_tracing, tracing_on
from tapmask_runtime.workdirs import sweep_stale_work_dirs
from tapmask_schemas.topics import JOB_CREATED

log = logging.getLogger("tapmask_gateway")

# Probes and scrapes every few seconds are noise in traces and request metrics.
_UNTRACED = ("/livez", "/api/health", "/metrics")
# Requests by method, route template (not the raw path: one series per route, not per job)
# and status, with their latency: Litestar's middleware, in the default registry.
_HTTP_METRICS = PrometheusConfig(
    app_name="tapmask-gateway", prefix="tapmask_http", group_path=True, exclude=list(_UNTRACED)
)


async def _log_unexpected(exc: Exception, scope: Scope) -> None:
    """Server errors go to the log with their traceback; client errors are answers, not bugs,
    and so is a deliberate 503 (``Problem``: busy, a part not running), counted in
    ``tapmask_gateway_rejected_total`` instead: a preview flood logged a traceback per
    refused click (443 in 30 s), which cost the gateway the CPU its other answers needed."""
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    if isinstance(exc, Problem) and exc.status_code == 503:
        return
    log.error("unhandled error on %s", scope.get("path"), exc_info=exc)


def _not_text(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    """A JSON body that is not UTF-8 (Litestar lets the decode error through as a 500)."""
    return Response(
        {"status_code": 400, "detail": f"the request body is not UTF-8 text ({exc.reason})"},
        status_code=400,
    )


def create_app(settings: Settings) -> Litestar:
    """The app, each object its handlers use in its state (those that need the database, the
    store or Kafka made in the lifespan), each given to handlers by its own provider
    (``controllers/deps.py``)."""
    app_metrics = Metrics()
    limiter = RateLimiter()
    relay_wake = asyncio.Event()
    # Bounds the disk and memory that concurrent job creations and previews can take.
    probe_slots = asyncio.Semaphore(settings.limits.max_concurrent_probes)
    probed = ProbeCache()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        pool = await db.create_pool(
            settings.database.url,
            settings.database.min_connections,
            settings.database.max_connections,
        )
        state.db_pool = pool
        tasks: list[asyncio.Task[None]] = []
        http: httpx.AsyncClient | None = None
        broker: KafkaBroker | None = None
        frames: UploadFrames | None = None
        preview_pool: PreviewPool | None = None
        try:
            applied = await db.migrate(pool)
            if applied:
                log.info("applied migrations %s", applied)
            store = state.s3 = GatewayS3(settings.s3)
            # Uploads left on disk by a probe whose gateway was killed (tapmask_runtime.workdirs).
            await anyio.to_thread.run_sync(sweep_stale_work_dirs)
            uploads = S3Uploads(store)
            state.jobs = JobService(
                db.PostgresJobs(pool, relay_wake),
                uploads,
                S3UploadProbe(store, settings.limits, probed, probe_slots),
                settings,
                limiter,
            )
            state.uploads = UploadService(db.PostgresUploads(pool), uploads, settings)
            frames = state.frames = UploadFrames(store, settings.preview, settings.limits)
            preview_pool = PreviewPool(settings.preview, settings.limits.probe_fields())
            await preview_pool.start()
            state.preview_pool = preview_pool
            quotas = settings.quotas
            lifecycle = await anyio.to_thread.run_sync(
                store.put_lifecycle,
                math.ceil(quotas.free_retention_hours / 24),
                math.ceil(quotas.pro_retention_hours / 24),
            )
            log.info("bucket lifecycle: %s", lifecycle)
            if settings.upload_origins:
                cors = await anyio.to_thread.run_sync(store.put_cors, settings.upload_origins)
                log.info("bucket CORS: %s", cors)
            broker = state.broker = make_broker(settings.kafka, app_metrics.registry)
            if settings.run_background:
                state.projector = register_projector(
                    broker,
                    pool,
                    settings.projector_group_id,
                    app_metrics.on_change,
                    topic_prefix=settings.kafka.topic_prefix,
                )
            # Its topics with their retention (tapmask_runtime.kafka): job-created, which the
            # relay sends by name, and the ones the projector reads.
            used = {settings.kafka.topic(JOB_CREATED), *topics_used(broker)}
            await ensure_topics(settings.kafka, used)
            await broker.start()
            streams = settings.event_streams
            # One connection per admitted stream (StreamSlots caps them at ``total``): the
            # pool never makes one user's stream wait for another's.
            http = state.http = httpx.AsyncClient(
                timeout=httpx.Timeout(streams.connect_timeout_s, read=None),
                limits=httpx.Limits(max_connections=streams.total, max_keepalive_connections=32),
            )
            if settings.run_background:
                tasks.append(
                    asyncio.create_task(
                        run_relay(
                            pool,
                            broker,
                            relay_wake,
                            settings.relay_interval_s,
                            topic_prefix=settings.kafka.topic_prefix,
                        )
                    )
                )
                tasks.append(
                    asyncio.create_task(run_cleanup(pool, store, settings.cleanup_interval_s))
                )
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if http is not None:
                await http.aclose()
            if broker is not None:
                await broker.stop()
            await pool.close()
            if frames is not None:
                frames.close()
            if preview_pool is not None:
                preview_pool.close()

    streams = settings.event_streams
    app = Litestar(
        route_handlers=[
            UploadController,
            PreviewController,
            JobController,
            ResultController,
            TrackingController,
            health,
            livez,
            metrics,
            *web_handlers(settings.web_dist),
        ],
        dependencies=dependencies(),
        state=State(
            {
                "settings": settings,
                "metrics": app_metrics,
                "probe_slots": probe_slots,
                "streams": StreamSlots(streams.per_client, streams.per_job, streams.total),
            }
        ),
        # Outermost, so the requests the client middleware refuses (429) are counted too.
        middleware=[_HTTP_METRICS.middleware, ClientMiddleware(settings, app_metrics, limiter)],
        # A span per request (W3C traceparent honoured) when tracing is on; left out while it
        # is off, where its no-op spans still cost ~18 % of a request's CPU (tracing_on).
        plugins=(
            [OpenTelemetryPlugin(OpenTelemetryConfig(exclude=list(_UNTRACED)))]
            if tracing_on()
            else []
        ),
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="TapMask API",
            version="1.0.0",
            description="Upload a video, click an object, get it hidden or erased.",
            path="/schema",
        ),
        request_max_body_size=64 * 1024,  # JSON only: videos go straight to S3
        logging_config=None,  # keep the JSON-lines logging main() configured
        after_exception=[_log_unexpected],
        exception_handlers={UnicodeDecodeError: _not_text},
    )
    return app


async def create_api_key(settings: Settings, name: str, videos: int | None) -> str:
    """A new pro key: stored hashed, returned once (`tapmask-gateway create-api-key`)."""
    pool = await db.create_pool(settings.database.url, 1, 2)
    try:
        await db.migrate(pool)
        key = "tmk_" + secrets.token_urlsafe(32)
        await db.insert_api_key(pool, uuid4(), token_hash(key), name, videos)
        return key
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tapmask-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the HTTP API (the default)")
    create = sub.add_parser("create-api-key", help="create a pro API key and print it once")
    create.add_argument("name")
    create.add_argument("--videos-per-month", type=int, default=None)
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging("tapmask-gateway", settings.log)
    configure_tracing("tapmask-gateway")  # off unless OTEL_TRACES_EXPORTER is set
    if args.command == "create-api-key":
        print(asyncio.run(create_api_key(settings, args.name, args.videos_per_month)))
        return
    weak = require_token_secret(
        "tapmask-gateway", settings.token_secret.get_secret_value(), settings.dev_mode
    )
    if weak:
        log.warning("development mode: %s", weak)
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,  # X-Forwarded-For is judged by our own trusted-proxy list
        # Access lines would carry ?token= of EventSource URLs into the logs.
        access_log=False,
        # Open SSE streams never end by themselves: don't let them hold a SIGTERM forever.
        timeout_graceful_shutdown=10,
        # Compiled loop and HTTP parser (dependencies of this package), never a silent
        # fallback to asyncio + h11: ~20 % less CPU a request (a job status in bursts of 128
        # new clients: 1.07 -> 0.82 ms, 2 x 20 bursts alternated; bench_api_load, README).
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
