"""Before a job: an upload's video facts, any of its frames, and the mask a click gives.

The web app uses these to let a person pick any frame (also of AVI or HEVC files the
browser cannot decode) and see, on each click, the mask the tracker will start from.
Only the client that asked for the upload may read it (as for POST /api/jobs).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
from litestar import Controller, Response, get, post
from litestar.params import JSONBody, Parameter
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.adapters.preview import (
    BadUpload,
    PreviewUnavailable,
    UploadFrames,
    frame_jpeg,
)
from tapmask_gateway.controllers.deps import (
    ClientDep,
    FramesDep,
    MetricsDep,
    ProbeSlotsDep,
    Problem,
    SegmenterDep,
    SettingsDep,
    UploadsDep,
    http_refusals,
)
from tapmask_media.decode import scaled_size

if TYPE_CHECKING:
    from tapmask_media.decode import RGBFrame

MAX_PREVIEW_POINTS = 32
# Background feature computations in flight (a reference, so they are not collected).
_PREPARING: set[asyncio.Task[None]] = set()


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
        segmenter: SegmenterDep,
        probe_slots: ProbeSlotsDep,
        key: Annotated[str, Parameter(description="The upload_key from the presign.")],
        index: Annotated[int, Parameter(ge=0, description="0-based frame number.")] = 0,
    ) -> Response[bytes]:
        """The longer side is at most `TAPMASK_PREVIEW__FRAME_MAX_SIDE` (1280) pixels: scale
        clicks by `display_width` / the image's width."""
        with http_refusals():
            upload = await uploads.owned(client, key)
        running = _frames(frames)

        if segmenter is not None:
            segmenter.shown(upload.key, index)

        def render() -> bytes:
            return frame_jpeg(running.frame(upload.key, upload.size_bytes, index))

        try:
            async with probe_slots:
                jpeg = await anyio.to_thread.run_sync(render)
        except BadUpload as exc:
            raise Problem(422, str(exc)) from exc
        if segmenter is not None:
            # The features of the frame a person looks at, before the first click (at
            # SAM's size, as the tracker decodes it: see adapters/preview.py).
            side = segmenter.side

            def at_sam_size() -> RGBFrame:
                return running.frame(upload.key, upload.size_bytes, index, side)

            task = asyncio.create_task(
                anyio.to_thread.run_sync(segmenter.prepare, upload.key, index, at_sam_size)
            )
            _PREPARING.add(task)
            task.add_done_callback(_PREPARING.discard)
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
        segmenter: SegmenterDep,
    ) -> Response[bytes]:
        """The tracker's own click segmentation (SAM, whole object) on that frame. The PNG
        has the size of the served frame (`/frame`); `X-Mask-Pixels` counts the object's
        pixels (0: nothing there, click elsewhere). The frame's image features are kept,
        so a further click on the same frame takes a fraction of the first."""
        with http_refusals():
            upload = await uploads.owned(client, data.upload_key)
        running = _frames(frames)
        if segmenter is None:
            raise Problem(503, "the mask preview is not running on this server")
        masker = segmenter
        positives = [(p.x, p.y) for p in data.points if p.positive]
        if not positives:
            raise Problem(422, "click on the object at least once (a positive point)")
        negatives = [(p.x, p.y) for p in data.points if not p.positive]

        def run() -> tuple[bytes, dict[str, str]]:
            _, video = running.video(upload.key, upload.size_bytes)
            w, h = video.info.display_width, video.info.display_height
            for x, y in [*positives, *negatives]:
                if x >= w or y >= h:
                    raise BadUpload(f"click ({x:g}, {y:g}) is outside the {w}x{h} frame")
            # SAM looks at the frame the tracker looks at; the PNG has the served size.
            rgb = running.frame(upload.key, upload.size_bytes, data.frame, masker.side)
            sx, sy = rgb.shape[1] / w, rgb.shape[0] / h
            result = masker.mask(
                upload.key,
                data.frame,
                rgb,
                [(x * sx, y * sy) for x, y in positives],
                [(x * sx, y * sy) for x, y in negatives],
                size=scaled_size(w, h, running.served_side),
            )
            return result.png, {
                "X-Mask-Pixels": str(result.pixels),
                "X-Mask-Size": f"{result.width}x{result.height}",
                "Server-Timing": (
                    f"encoder;dur={result.seconds_encoder * 1000:.0f}, "
                    f"decoder;dur={result.seconds_decoder * 1000:.0f}"
                ),
                "Cache-Control": "no-store",
            }

        try:
            png, headers = await anyio.to_thread.run_sync(run)
        except BadUpload as exc:
            raise Problem(422, str(exc)) from exc
        except PreviewUnavailable as exc:
            raise Problem(503, str(exc)) from exc
        return Response(png, media_type="image/png", headers=headers)
