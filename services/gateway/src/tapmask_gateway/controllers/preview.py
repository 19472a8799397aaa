"""Before a job: an upload's video facts, any of its frames, and the mask a click gives.

The web app uses these to let a person pick any frame (also of AVI or HEVC files the
browser cannot decode) and see, on each click, the mask the tracker will start from.
Only the client that asked for the upload may read it (as for POST /api/jobs).
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Controller, Response, get, post
from litestar.params import JSONBody, Parameter
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.adapters.preview import (
    BadUpload,
    PreviewUnavailable,
    UploadFrames,
    UploadVideo,
    frame_jpeg,
)
from tapmask_gateway.adapters.preview_pool import FrameJob, MaskJob, PreviewPool
from tapmask_gateway.controllers.deps import (
    ClientDep,
    FramesDep,
    MetricsDep,
    PreviewPoolDep,
    ProbeSlotsDep,
    Problem,
    SettingsDep,
    UploadsDep,
    http_refusals,
)
from tapmask_gateway.domain.preview_queue import Busy
from tapmask_gateway.metrics import Metrics
from tapmask_media.decode import scaled_size

MAX_PREVIEW_POINTS = 32


class UploadVideoView(BaseModel):
    upload_key: str
    display_width: int = Field(description="Width of the picture as players show it.")
    display_height: int
    frame_count: int = Field(description="Frames 0 .. frame_count - 1 can be clicked on.")
    fps: float | None
    duration_s: float
    has_audio: bool
    codec: str
    format: str


class LimitsView(BaseModel):
    max_upload_bytes: int = Field(description="Largest file accepted, in bytes.")
    max_duration_s: float = Field(description="Longest video accepted, in seconds.")
    max_width_x_height: int = Field(description="Most pixels in one frame.")
    formats: list[str] = Field(description="Containers accepted (by their content).")


class PreviewPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0, description="Displayed pixels from the left of the frame.")
    y: float = Field(ge=0, description="Displayed pixels from the top of the frame.")
    positive: bool = Field(default=True, description="False marks a spot that is NOT it.")


class MaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_key: str = Field(min_length=1, max_length=200)
    frame: int = Field(default=0, ge=0, description="The frame the clicks are on.")
    points: list[PreviewPoint] = Field(
        min_length=1,
        max_length=MAX_PREVIEW_POINTS,
        description="The clicks of ONE object (at least one positive).",
    )


def _frames(frames: UploadFrames | None) -> UploadFrames:
    if frames is None:
        raise Problem(503, "frame previews are not running on this server")
    return frames


class PreviewController(Controller):
    path = "/api/upload"
    tags = ["preview"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/limits", summary="What uploads may be: size, duration, formats")
    async def limits(self, settings: SettingsDep) -> LimitsView:
        """So a page can say the limits before a person picks a file."""
        limits = settings.limits
        return LimitsView(
            max_upload_bytes=limits.max_upload_bytes,
            max_duration_s=limits.max_duration_s,
            max_width_x_height=limits.max_pixels,
            formats=["MP4", "MOV", "WebM", "MKV", "AVI"],
        )

    @get("/video", summary="What the upload is: size, frames, duration")
    async def video(
        self,
        uploads: UploadsDep,
        client: ClientDep,
        frames: FramesDep,
        probe_slots: ProbeSlotsDep,
        metrics: MetricsDep,
        key: Annotated[str, Parameter(description="The upload_key from the presign.")],
    ) -> UploadVideoView:
        """Probes the finished upload (once; 422 in plain words when it is not a usable
        video), so a person learns before clicking, not after starting the job."""
        with http_refusals():
            upload = await uploads.owned(client, key)
        running = _frames(frames)
        try:
            async with probe_slots:
                _, video = await anyio.to_thread.run_sync(
                    running.video, upload.key, upload.size_bytes
                )
        except BadUpload as exc:
            metrics.rejected.labels("bad_video").inc()
            raise Problem(422, str(exc)) from exc
        info = video.info
        count = len(video.timestamps) if video.timestamps is not None else info.frame_count
        return UploadVideoView(
            upload_key=upload.key,
            display_width=info.display_width,
            display_height=info.display_height,
            frame_count=count,
            fps=float(info.fps) if info.fps else None,
            duration_s=info.duration_s,
            has_audio=info.has_audio,
            codec=info.video_codec,
            format=info.format_name,
        )

    @get(
        "/frame",
        summary="One frame of the upload as a JPEG, as players show it",
        media_type="image/jpeg",
    )
    async def frame(
        self,
        uploads: UploadsDep,
        client: ClientDep,
        frames: FramesDep,
        pool: PreviewPoolDep,
        probe_slots: ProbeSlotsDep,
        key: Annotated[str, Parameter(description="The upload_key from the presign.")],
        index: Annotated[int, Parameter(ge=0, description="0-based frame number.")] = 0,
    ) -> Response[bytes]:
        """The longer side is at most `TAPMASK_PREVIEW__FRAME_MAX_SIDE` (1280) pixels: scale
        clicks by `display_width` / the image's width."""
        with http_refusals():
            upload = await uploads.owned(client, key)
        running = _frames(frames)

        def render() -> bytes:
            return frame_jpeg(running.frame(upload.key, upload.size_bytes, index))

        try:
            async with probe_slots:
                jpeg = await anyio.to_thread.run_sync(render)
        except BadUpload as exc:
            raise Problem(422, str(exc)) from exc
        if pool is not None:
            # The features of the frame a person looks at, before the first click, in a
            # preview worker when one is idle (see adapters/preview_pool.py).
            job, _ = await _frame_job(running, pool, upload.key, upload.size_bytes, index)
            pool.shown(job)
        return Response(
            jpeg,
            media_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @post(
        "/mask",
        status_code=200,
        summary="The mask a click gives on a frame (PNG: 255 = the object)",
        media_type="image/png",
    )
    async def mask(
        self,
        data: JSONBody[MaskRequest],
        uploads: UploadsDep,
        client: ClientDep,
        frames: FramesDep,
        pool: PreviewPoolDep,
        metrics: MetricsDep,
    ) -> Response[bytes]:
        """The tracker's own click segmentation (SAM, whole object) on that frame. The PNG
        has the size of the served frame (`/frame`); `X-Mask-Pixels` counts the object's
        pixels (0: nothing there, click elsewhere). The frame's image features are kept,
        so a further click on the same frame takes a fraction of the first.

        A bounded resource (`TAPMASK_PREVIEW__*`, domain/preview_queue.py): a newer click
        replaces the client's click still waiting (that one answers 409); beyond the
        client's share 429, beyond the server's 503, each with `Retry-After`."""
        if pool is None:
            raise Problem(503, "the mask preview is not running on this server")
        try:
            pool.charge(client.subject)  # a flood is refused here, before the database
        except Busy as exc:
            raise _busy(metrics, exc) from exc
        with http_refusals():
            upload = await uploads.owned(client, data.upload_key)
        running = _frames(frames)
        positives = [(p.x, p.y) for p in data.points if p.positive]
        if not positives:
            raise Problem(422, "click on the object at least once (a positive point)")
        negatives = [(p.x, p.y) for p in data.points if not p.positive]
        try:
            frame, video = await _frame_job(
                running, pool, upload.key, upload.size_bytes, data.frame
            )
            w, h = video.info.display_width, video.info.display_height
            for x, y in [*positives, *negatives]:
                if x >= w or y >= h:
                    raise BadUpload(f"click ({x:g}, {y:g}) is outside the {w}x{h} frame")
            result = await pool.mask(
                client.subject,
                MaskJob(
                    frame,
                    positives,
                    negatives,
                    (w, h),
                    scaled_size(w, h, running.served_side),
                ),
            )
        except Busy as exc:
            raise _busy(metrics, exc) from exc
        except BadUpload as exc:
            raise Problem(422, str(exc)) from exc
        except PreviewUnavailable as exc:
            raise Problem(503, str(exc)) from exc
        headers = {
            "X-Mask-Pixels": str(result.pixels),
            "X-Mask-Size": f"{result.width}x{result.height}",
            "Server-Timing": (
                f"encoder;dur={result.seconds_encoder * 1000:.0f}, "
                f"decoder;dur={result.seconds_decoder * 1000:.0f}"
            ),
            "Cache-Control": "no-store",
        }
        return Response(result.png, media_type="image/png", headers=headers)


def _busy(metrics: Metrics, exc: Busy) -> Problem:
    metrics.rejected.labels("preview_busy").inc()
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return Problem(exc.status, exc.detail, headers=headers)


async def _frame_job(
    frames: UploadFrames, pool: PreviewPool, key: str, size: int, index: int
) -> tuple[FrameJob, UploadVideo]:
    """What a preview worker needs to decode frame ``index`` of the upload itself: the
    local copy (downloaded and probed here once, in a thread) and its seek table."""
    path, video = await anyio.to_thread.run_sync(frames.video, key, size)
    count = len(video.timestamps) if video.timestamps is not None else video.info.frame_count
    if index >= count:
        raise BadUpload(
            f"frame {index} does not exist: the video has {count} frames (0 to {count - 1})"
        )
    job = FrameJob(key, str(path), index, video.info.rotation, video.timestamps, pool.limits)
    return job, video
