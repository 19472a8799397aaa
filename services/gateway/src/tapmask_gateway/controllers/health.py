"""GET /api/health (real checks of Kafka, PostgreSQL, S3: readiness), GET /livez (the process
answers: liveness) and GET /metrics (Prometheus).

Liveness checks nothing outside the process on purpose: a database blip failing every pod's
liveness would restart them all at once, which cures nothing and drops every open upload."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable
from typing import Any

import anyio.to_thread
import asyncpg
from faststream.kafka import KafkaBroker
from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from tapmask_gateway.adapters import db
from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.background.projector import consumer_lag
from tapmask_gateway.controllers.deps import (
    AnyRequest,
    BrokerDep,
    DbPoolDep,
    MetricsDep,
    ProjectorDep,
    S3Dep,
    SettingsDep,
)
from tapmask_gateway.domain.tokens import bearer_token
from tapmask_gateway.metrics import Metrics

CHECK_TIMEOUT_S = 3.0

log = logging.getLogger("tapmask_gateway.health")


async def _kafka(broker: KafkaBroker | None) -> None:
    # A real metadata request (describe_cluster) to the brokers, not a cached flag.
    if broker is None or not await broker.ping(timeout=CHECK_TIMEOUT_S):
        raise ConnectionError("no answer from the Kafka brokers")


async def _postgres(db_pool: asyncpg.Pool) -> None:
    if await db_pool.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_S) != 1:
        raise ConnectionError("SELECT 1 returned something else")


async def _s3(s3: GatewayS3) -> None:
    await anyio.to_thread.run_sync(s3.ping)


async def _run(check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, timeout=CHECK_TIMEOUT_S + 1)
    except Exception as exc:
        return f"down: {type(exc).__name__}: {exc}"[:300]
    return "ok"


@get("/api/health", tags=["health"], summary="Kafka, PostgreSQL and S3 reachable?")
async def health(broker: BrokerDep, db_pool: DbPoolDep, s3: S3Dep) -> Response[dict[str, object]]:
    names = ("kafka", "postgres", "s3")
    results = await asyncio.gather(_run(_kafka(broker)), _run(_postgres(db_pool)), _run(_s3(s3)))
    checks = dict(zip(names, results, strict=True))
    down = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, object] = {"status": "ok" if not down else "unavailable", "checks": checks}
    if down:
        body["down"] = down
    return Response(body, status_code=503 if down else 200)


@get("/livez", tags=["health"], summary="The process answers (Kubernetes liveness)")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@get("/metrics", include_in_schema=False)
async def metrics(
    settings: SettingsDep,
    metrics: MetricsDep,
    db_pool: DbPoolDep,
    projector: ProjectorDep,
    request: AnyRequest,
) -> Response[bytes]:
    """Prometheus text. It is not rate limited (a scraper must always get through), so what
    it costs is bounded instead: the database is asked at most every
    ``TAPMASK_METRICS_REFRESH_S``, however often anyone scrapes (a ``GROUP BY`` over all
    jobs ran per scrape, issue 9); with ``TAPMASK_METRICS_TOKEN`` set only a scraper
    presenting it as a bearer token is answered; without it only a scraper on this host (a
    loopback peer that is no proxy: no X-Forwarded-For) is (issue 18: it answered anyone,
    e.g. the internet through the ingress)."""
    token = settings.metrics_token
    if token is not None:
        presented = bearer_token(request.headers.get("authorization"), None) or ""
        if not hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
            return Response(b"", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    elif not _local(request):
        return Response(
            b"/metrics answers only this host's own scrapers unless TAPMASK_METRICS_TOKEN is "
            b"set; then scrape with it as 'Authorization: Bearer <token>'\n",
            status_code=403,
            media_type="text/plain",
        )
    now = time.monotonic()
    if now - metrics.gauges_refreshed_at >= settings.metrics_refresh_s:
        metrics.gauges_refreshed_at = now
        await _refresh_gauges(db_pool, metrics, projector)
    # + the default registry: Litestar's PrometheusMiddleware (HTTP requests by route, with
    # their latency) and the process collector live there.
    body = generate_latest(metrics.registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _local(request: AnyRequest) -> bool:
    """The peer is this host itself, and not a proxy relaying someone else's request."""
    peer = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    return (
        loopback and "x-forwarded-for" not in request.headers and "forwarded" not in request.headers
    )


async def _refresh_gauges(db_pool: asyncpg.Pool, metrics: Metrics, projector: Any) -> None:
    """Metrics are still served when the database or Kafka is down: the gauges keep their last
    values, each source is refreshed on its own (a database outage used to leave the lag
    stale too) and the failure is logged, not hidden."""
    try:
        counts = await db.jobs_by_status(db_pool)
        for state in ("pending", "processing", "completed", "failed", "expired"):
            metrics.jobs.labels(state).set(counts.get(state, 0))
        pending = await db_pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        metrics.outbox_pending.set(int(pending or 0))
    except Exception as exc:
        log.warning("metrics: job and outbox counts not refreshed (database: %r)", exc)
    try:
        for topic, lag in (await consumer_lag(projector)).items():
            metrics.consumer_lag.labels(topic).set(lag)
    except Exception as exc:
        log.warning("metrics: consumer lag not refreshed (Kafka: %r)", exc)
