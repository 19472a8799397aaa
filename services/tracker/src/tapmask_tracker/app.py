"""The tracker service: a FastStream app consuming job-created, publishing masks-ready.

tapmask-tracker            # reads TAPMASK_* settings (see settings.py)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from faststream.kafka import KafkaBroker

from tapmask_media.input_check import InputCheck, input_check
from tapmask_runtime.object_store import ObjectStore
from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.service import StagePorts, WorkerService, build_worker_service, run_worker
from tapmask_schemas import ClickPoint, JobCreated, Stage
from tapmask_schemas.progress import tracker_share_end
from tapmask_schemas.topics import JOB_CREATED, MASKS_READY
from tapmask_tracker.handlers import TrackFn, TrackStage
from tapmask_tracker.settings import Settings

log = logging.getLogger("tapmask.tracker")


TrackerService = WorkerService[JobCreated, TrackStage]


def _ensure_checkpoint(settings: Settings) -> Path | None:
    """The SAM 2 checkpoint path, downloaded from the models bucket when a key is set."""
    opts = settings.tracker
    if opts.sam2_checkpoint_key is None:
        return opts.sam2_checkpoint
    target = (
        opts.sam2_checkpoint
        or Path.home() / ".cache" / "tapmask" / Path(opts.sam2_checkpoint_key).name
    )
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        log.info(
            "downloading SAM 2 checkpoint s3://%s/%s", opts.models_bucket, opts.sam2_checkpoint_key
        )
        try:
            make_s3_client(settings.s3).download_file(
                opts.models_bucket, opts.sam2_checkpoint_key, str(partial)
            )
        except ClientError as exc:
            partial.unlink(missing_ok=True)
            raise RuntimeError(
                f"cannot download the SAM 2 checkpoint s3://{opts.models_bucket}/"
                f"{opts.sam2_checkpoint_key} (TAPMASK_TRACKER__SAM2_CHECKPOINT_KEY): {exc}"
            ) from exc
        partial.replace(target)  # atomic: a half download is never mistaken for a checkpoint
    return target


def _real_track(settings: Settings) -> tuple[TrackFn, str]:
    from tapmask_processing.track import track_to_file
    from tapmask_processing.tracking import Tracker, build_face_tracker, build_tracker

    tracker = build_tracker(
        settings.tracker.backend,
        sam2_checkpoint=_ensure_checkpoint(settings),
        sam2_config=settings.tracker.sam2_config,
        device=settings.tracker.device,
        sam_encoder=settings.tracker.sam_encoder,
    )
    backend = tracker.name  # as users see it: "cpu", "sam2", "learned", ...
    faces: list[Tracker] = []  # built on the first job that asks (a model load, ~0.1 s)

    def track(
        video: Path,
        masks: Path,
        points: Sequence[ClickPoint],
        progress: Any,
        auto_faces: bool = False,
        on_mask: Any = None,
    ) -> Any:
        if auto_faces and not faces:
            faces.append(build_face_tracker())
        return track_to_file(
            video, masks, tracker, points, progress, faces[0] if auto_faces else None, on_mask
        )

    return track, backend


def build_service(
    settings: Settings,
    *,
    broker: KafkaBroker | None = None,
    store: ObjectStore | None = None,
    track: TrackFn | None = None,
    backend_name: str = "cpu",
    check_input: InputCheck | None = None,
) -> TrackerService:
    """Wire the tracker; real Kafka/S3/tracker unless fakes are handed in. The input
    check (``check_input``) is the real one with the real tracker, none with a fake
    unless one is given."""
    if check_input is None and track is None:
        check_input = input_check(settings.limits)

    def not_ready(*_: Any) -> Any:
        raise RuntimeError("the tracker is not loaded yet")

    def make_stage(ports: StagePorts) -> TrackStage:
        masks_ready = ports.publisher(
            MASKS_READY, title="masks-ready", description="Masks of a job are stored in S3."
        )
        return TrackStage(
            ports.store,
            track or not_ready,
            masks_ready,
            backend_name,
            settings.work_dir,
            check_input,
            max_hold_s=settings.tracker.max_hold_s,
            stage_budget_s=settings.worker.stage_budget_s,
        )

    async def load_model() -> None:
        if track is None:
            # Model loading (maybe a checkpoint download) happens before consuming.
            real, backend = await asyncio.to_thread(_real_track, settings)
            svc.stage.use(real, backend)
            log.info("tracker backend: %s", backend)

    svc = build_worker_service(
        settings,
        service="tracker",
        topic=JOB_CREATED,
        event_model=JobCreated,
        failure_stage=Stage.TRACKING,
        make_stage=make_stage,
        broker=broker,
        store=store,
        progress_span_end=lambda event: tracker_share_end(event.mode),
        on_startup=[load_model],
    )
    return svc


def main() -> None:
    run_worker("tracker", Settings(), build_service)


if __name__ == "__main__":
    main()
