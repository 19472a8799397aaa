"""The renderer service: a FastStream app consuming masks-ready, publishing video-ready.

tapmask-renderer           # reads TAPMASK_* settings (see settings.py)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaRouter

from tapmask_renderer.handlers import RenderFn, RenderStage
from tapmask_renderer.settings import Settings
from tapmask_runtime.attempts import AttemptLedger
from tapmask_runtime.kafka import make_broker
from tapmask_runtime.logging import configure_logging
from tapmask_runtime.metrics import serve_metrics
from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.worker import (
    ObjectStore,
    S3ObjectStore,
    StageWorker,
    WorkerMetrics,
)
from tapmask_schemas import JobProgress, MasksReady, Stage, VideoReady
from tapmask_schemas.topics import JOB_PROGRESS, MASKS_READY, VIDEO_READY


@dataclass
class RendererService:
    """Everything ``create_app`` wires, reachable for tests."""

    app: FastStream
    broker: KafkaBroker
    worker: StageWorker[MasksReady]
    stage: RenderStage
    metrics: WorkerMetrics


def build_service(
    settings: Settings,
    *,
    broker: KafkaBroker | None = None,
    store: ObjectStore | None = None,
    render: RenderFn | None = None,
) -> RendererService:
    """Wire the renderer; real Kafka/S3/pipeline unless fakes are handed in."""
    # FastStream's own log lines go through the root logger too (JSON lines in main()).
    fs_log = logging.getLogger("tapmask.renderer.faststream")
    broker = broker or make_broker(settings.kafka, logger=fs_log)
    # Every topic through one router, so the prefix (TAPMASK_KAFKA__TOPIC_PREFIX) applies to all.
    router = KafkaRouter(prefix=settings.kafka.topic_prefix)
    metrics = WorkerMetrics("renderer")
    video_ready = router.publisher(
        VIDEO_READY, title="video-ready", description="A job's result video is stored in S3."
    )
    completed = router.publisher(JOB_PROGRESS)
    store = store or S3ObjectStore(make_s3_client(settings.s3), settings.s3.bucket)
    if render is None:
        from tapmask_renderer.rendering import render_to_file

        render = render_to_file

    async def publish(event: VideoReady | JobProgress) -> None:
        await worker.publish(video_ready if isinstance(event, VideoReady) else completed, event)

    stage = RenderStage(store, render, publish, settings.work_dir)
    worker = StageWorker(
        router,
        service="renderer",
        topic=MASKS_READY,
        event_model=MasksReady,
        failure_stage=Stage.RENDERING,
        handle=stage,
        settings=settings.worker,
        kafka=settings.kafka,
        metrics=metrics,
        attempts=AttemptLedger(store, "renderer"),
        progress_span_end=lambda _: 100.0,
    )

    async def startup() -> None:
        serve_metrics(metrics.registry, settings.metrics)

    async def after_startup() -> None:
        await worker.start_background()

    broker.include_router(router)
    app = FastStream(
        broker,
        logger=fs_log,
        on_startup=[startup],
        after_startup=[after_startup],
        on_shutdown=[worker.shutdown],
    )
    return RendererService(app, broker, worker, stage, metrics)


def create_app(settings: Settings) -> FastStream:
    return build_service(settings).app


def main() -> None:
    settings = Settings()
    configure_logging("renderer", settings.log)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
