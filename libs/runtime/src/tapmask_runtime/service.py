"""What makes a stage handler a worker service: one builder both workers use.

A worker service is: a FastStream app over a broker (Kafka, or a test broker), every
topic through one ``KafkaRouter`` carrying ``TAPMASK_KAFKA__TOPIC_PREFIX``, an object
store (S3 unless a fake is given), a ``StageWorker`` running the stage handler with
durable attempt counts, Prometheus metrics served at start-up and a SIGTERM drain.
A worker's own module only says what differs: its topic, event, stage handler and
start-up work (e.g. loading a model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.asyncapi import event_publisher
from tapmask_runtime.attempts import AttemptLedger
from tapmask_runtime.errors import ObjectMissingError, PermanentJobError
from tapmask_runtime.kafka import ensure_topics, make_broker, topics_used
from tapmask_runtime.logging import configure_logging
from tapmask_runtime.metrics import WorkerMetrics
from tapmask_runtime.object_store import ObjectStore, S3ObjectStore
from tapmask_runtime.probes import serve_probes
from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import (
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    S3Settings,
    VideoLimits,
    WorkerSettings,
)
from tapmask_runtime.tracing import configure_tracing
from tapmask_runtime.workdirs import sweep_stale_work_dirs
from tapmask_runtime.worker import JobContext, StageWorker
from tapmask_schemas import Event, Stage, VideoInfo
from tapmask_schemas.topics import key_for

E = TypeVar("E", bound=Event)
# A stage handler: called with (event, JobContext) for each message.
H = TypeVar("H", bound=Callable[..., Awaitable[None]])
T = TypeVar("T")

Publish = Callable[[Any], Awaitable[None]]
StartupHook = Callable[[], Awaitable[None]]


class WorkerServiceSettings(BaseSettings):
    """What every worker is configured with (``TAPMASK_`` environment variables, nested groups
    with ``__``: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_WORKER__MAX_ATTEMPTS...). A worker's
    ``Settings`` subclasses it: its own Kafka client id and metrics port, its own options."""

    model_config = SettingsConfigDict(
        env_prefix="TAPMASK_", env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    """Prometheus /metrics (TAPMASK_METRICS__PORT; unset it with an empty value)."""
    log: LogSettings = Field(default_factory=LogSettings)
    limits: VideoLimits = Field(default_factory=VideoLimits)
    """The gateway's limits (TAPMASK_LIMITS__*, the same values): the input is probed
    with them again before any decoding."""
    work_dir: Path | None = None
    """Where a job's input and output are staged (None: the system temp dir)."""


@dataclass(frozen=True)
class StagePorts:
    """What a stage handler is built from: its store and publishers to named topics."""

    store: ObjectStore
    router: KafkaRouter

    def publisher(self, topic: str, **doc: Any) -> Publish:
        """Publish events to ``topic`` keyed by job id (``doc``: AsyncAPI title etc.; the
        payload schema is the topic's event model, tapmask_runtime.asyncapi)."""
        pub = event_publisher(self.router, topic, **doc)

        async def publish(event: Event) -> None:
            await pub.publish(event, key=key_for(event.job_id))

        return publish


@dataclass
class WorkerService(Generic[E, H]):
    """Everything ``build_worker_service`` wires, reachable for tests."""

    app: FastStream
    broker: KafkaBroker
    worker: StageWorker[E]
    stage: H
    metrics: WorkerMetrics


def build_worker_service(
    settings: WorkerServiceSettings,
    *,
    service: str,
    topic: str,
    event_model: type[E],
    failure_stage: Stage,
    make_stage: Callable[[StagePorts], H],
    broker: KafkaBroker | None = None,
    store: ObjectStore | None = None,
    progress_span_end: Callable[[E], float] | None = None,
    on_startup: Sequence[StartupHook] = (),
) -> WorkerService[E, H]:
    """Wire one worker service: real Kafka/S3 unless a test broker or fake store is given.
    ``on_startup`` runs before metrics are served and before consuming starts."""
    # FastStream's own log lines go through the root logger too (JSON lines in main()).
    fs_log = logging.getLogger(f"tapmask.{service}.faststream")
    metrics = WorkerMetrics(service)
    # FastStream's own Prometheus middleware: messages received/published, processing time.
    broker = broker or make_broker(
        settings.kafka,
        logger=fs_log,
        middlewares=(KafkaPrometheusMiddleware(registry=metrics.registry, app_name=service),),
    )
    # Every topic through one router, so the prefix (TAPMASK_KAFKA__TOPIC_PREFIX) applies to all.
    router = KafkaRouter(prefix=settings.kafka.topic_prefix)
    store = store or S3ObjectStore(make_s3_client(settings.s3), settings.s3.bucket)
    stage = make_stage(StagePorts(store, router))
    worker = StageWorker(
        router,
        service=service,
        topic=topic,
        event_model=event_model,
        failure_stage=failure_stage,
        handle=stage,
        settings=settings.worker,
        kafka=settings.kafka,
        metrics=metrics,
        attempts=AttemptLedger(store, service),
        cancels=store,
        progress_span_end=progress_span_end,
    )

    probes: list[asyncio.Task[None]] = []

    async def startup() -> None:
        # Users' videos left on disk by a worker killed mid-job (tapmask_runtime.workdirs).
        await asyncio.to_thread(sweep_stale_work_dirs, settings.work_dir)
        # Every topic it reads or writes (retry and dead letters too) with its retention,
        # before the broker's subscribers would create them with Kafka's default week.
        await ensure_topics(settings.kafka, topics_used(broker))
        for hook in on_startup:
            await hook()
        # /livez, /readyz and /metrics on TAPMASK_METRICS__PORT (tapmask_runtime.probes).
        task = await serve_probes(metrics.registry, broker, settings.metrics)
        if task is not None:
            probes.append(task)

    async def after_startup() -> None:
        await worker.start_background()

    async def stop_probes() -> None:
        for task in probes:
            task.cancel()

    broker.include_router(router)
    app = FastStream(
        broker,
        logger=fs_log,
        on_startup=[startup],
        after_startup=[after_startup],
        on_shutdown=[worker.shutdown],
        after_shutdown=[stop_probes],
    )
    return WorkerService(app, broker, worker, stage, metrics)


S = TypeVar("S", bound=WorkerServiceSettings)


def run_worker(service: str, settings: S, build: Callable[[S], WorkerService[Any, Any]]) -> None:
    """A worker's ``main()``: JSON logs, then the app ``build`` wires until SIGTERM."""
    configure_logging(service, settings.log)
    configure_tracing(f"tapmask-{service}")  # off unless OTEL_TRACES_EXPORTER is set
    asyncio.run(build(settings).app.run())


async def fetch(store: ObjectStore, key: str, path: Path, missing: str) -> None:
    """Download an input; a missing object fails the job for good with ``missing``."""
    try:
        await store.download(key, path)
    except ObjectMissingError as exc:
        raise PermanentJobError(missing) from exc


async def run_step(
    ctx: JobContext,
    step: str,
    fn: Callable[..., T],
    *args: Any,
    permanent: tuple[type[Exception], ...],
    failure: str,
) -> T:
    """Run a blocking step of the stage in a thread, timed as ``step``; the ``permanent``
    errors (bad input) fail the job for good as ``"{failure}: {error}"``."""
    with ctx.metrics.timed(step):
        try:
            result: T = await ctx.run_blocking(fn, *args)
        except permanent as exc:
            raise PermanentJobError(f"{failure}: {_without_paths(str(exc), args)}") from exc
    return result


async def recheck_input(
    ctx: JobContext,
    check: Callable[[Path, tuple[int, int, int]], object] | None,
    video: Path,
    accepted: VideoInfo,
    *,
    permanent: tuple[type[Exception], ...],
) -> None:
    """The downloaded ``video`` checked again against the ``accepted`` probe of the gateway
    (``tapmask_media.input_check``) before anything decodes it, timed as ``probe``; the
    ``permanent`` errors fail the job for good. ``check`` None (a test's fake pipeline):
    nothing to check. Both workers check their input so, defined here once."""
    if check is None:
        return
    await run_step(
        ctx,
        "probe",
        check,
        *(video, (accepted.width, accepted.height, accepted.frame_count)),
        permanent=permanent,
        failure="The video could not be read",
    )


def _without_paths(message: str, args: Sequence[Any]) -> str:
    """``message`` without the worker's temp paths among ``args``: the user knows the file
    as their video, and the path tells an outsider how the worker is laid out."""
    for arg in args:
        if isinstance(arg, Path):
            message = message.replace(f"{arg}: ", "").replace(str(arg), arg.name)
    return message
