"""A worker's HTTP port (``TAPMASK_METRICS__PORT``): ``/livez``, ``/readyz`` and ``/metrics``.

Workers serve no API, but Kubernetes needs to tell a hung worker from a busy one, and an
operator needs to know whether it reaches Kafka:

- ``/livez`` answers 200 from the worker's own event loop. A job's heavy work runs in threads,
  so a healthy worker answers within milliseconds however long its job is; a loop stuck for
  the probe's whole failure window is a worker to restart. It checks nothing else: a Kafka or
  S3 outage must not restart every pod (it would not help, and would redo running jobs).
- ``/readyz`` asks the Kafka brokers for metadata (FastStream's ``make_ping_asgi``):
  204 when they answer, 500 when not; the pod shows NotReady while its broker is away.
- ``/metrics``: ``prometheus_client``'s ASGI app over the worker's registry.

Served by uvicorn on the worker's loop (a thread server, as ``start_http_server`` was, would
answer ``/livez`` from a wedged process). FastStream keeps SIGTERM: the drain of the running
job is its shutdown hook, so this server installs no signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from typing import Any

import uvicorn
from faststream.asgi import AsgiResponse, get, make_ping_asgi
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, make_asgi_app

from tapmask_runtime.settings import MetricsSettings

log = logging.getLogger("tapmask.probes")

READY_TIMEOUT_S = 3.0


@get(include_in_schema=False)
async def _livez(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"alive", 200)


def probe_app(registry: CollectorRegistry, broker: KafkaBroker) -> ASGIApp:
    """The ASGI app of the port: the three paths, 404 for anything else."""
    routes: dict[str, ASGIApp] = {
        "/livez": _livez,
        "/readyz": make_ping_asgi(broker, timeout=READY_TIMEOUT_S, include_in_schema=False),
        "/metrics": make_asgi_app(registry),
    }
    not_found = AsgiResponse(b"not found: /livez, /readyz, /metrics", 404)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan: the worker's app owns start-up and shutdown
        route = routes.get(scope["path"])
        if route is None:
            await not_found(scope, receive, send)
        else:
            await route(scope, receive, send)

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # SIGTERM belongs to FastStream (the job's drain), not to this side server


async def serve_probes(
    registry: CollectorRegistry, broker: KafkaBroker, settings: MetricsSettings
) -> asyncio.Task[None] | None:
    """Start serving the port in the background (None when no port is configured).
    Returns once it listens, so a probe right after start-up finds it."""
    if settings.port is None:
        return None
    config = uvicorn.Config(
        probe_app(registry, broker),
        host=settings.host,
        port=settings.port,
        lifespan="off",
        log_config=None,
        access_log=False,  # a probe every few seconds is not news
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(), name="tapmask-probes")
    while not server.started:
        if task.done():
            task.result()  # the bind failed: say why
            raise RuntimeError(f"probe server on {settings.host}:{settings.port} stopped")
        await asyncio.sleep(0.01)
    log.info("probes and metrics on http://%s:%s", settings.host, settings.port)
    return task
