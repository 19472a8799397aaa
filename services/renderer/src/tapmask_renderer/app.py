"""The renderer service: a FastStream app consuming masks-ready, publishing video-ready.

tapmask-renderer           # reads TAPMASK_* settings (see settings.py)
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from tapmask_media.input_check import InputCheck, input_check
from tapmask_renderer.handlers import RenderFn, RenderStage
from tapmask_renderer.settings import Settings
from tapmask_runtime.object_store import ObjectStore
from tapmask_runtime.service import StagePorts, WorkerService, build_worker_service, run_worker
from tapmask_schemas import JobProgress, MasksReady, Stage, VideoReady
from tapmask_schemas.topics import JOB_PROGRESS, MASKS_READY, VIDEO_READY

RendererService = WorkerService[MasksReady, RenderStage]


def build_service(
    settings: Settings,
    *,
    broker: KafkaBroker | None = None,
    store: ObjectStore | None = None,
    render: RenderFn | None = None,
    check_input: InputCheck | None = None,
) -> RendererService:
    """Wire the renderer; real Kafka/S3/pipeline unless fakes are handed in. The input
    check (``check_input``) is the real one with the real pipeline, none with a fake
    unless one is given."""
    if check_input is None and render is None:
        check_input = input_check(settings.limits)
    if render is None:
        from tapmask_renderer.rendering import render_to_file

        render = render_to_file
    chosen: RenderFn = render

    def make_stage(ports: StagePorts) -> RenderStage:
        video_ready = ports.publisher(
            VIDEO_READY, title="video-ready", description="A job's result video is stored in S3."
        )
        completed = ports.publisher(JOB_PROGRESS)

        async def publish(event: VideoReady | JobProgress) -> None:
            await (video_ready if isinstance(event, VideoReady) else completed)(event)

        return RenderStage(ports.store, chosen, publish, settings.work_dir, check_input)

    return build_worker_service(
        settings,
        service="renderer",
        topic=MASKS_READY,
        event_model=MasksReady,
        failure_stage=Stage.RENDERING,
        make_stage=make_stage,
        broker=broker,
        store=store,
        progress_span_end=lambda _: 100.0,
    )


def main() -> None:
    run_worker("renderer", Settings(), build_service)


if __name__ == "__main__":
    main()
