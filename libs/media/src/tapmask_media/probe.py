"""Open an untrusted video file safely and describe it.

Every open goes through :func:`open_input`, which only lets FFmpeg read the one local
file (``protocol_whitelist=file``), only with the demuxers we expect (mp4/mov,
matroska/webm, avi: no playlists, no concat, no image sequences, no network), without
following external references (``enable_drefs=0``), and with caps on how much it reads
to guess stream parameters. :func:`probe` then checks the caps on streams, pixels and
duration, decodes the first frame (which proves the video is decodable and gives the
display matrix), and demuxes every video packet to count frames and catch files that
end early. :func:`probe_in_subprocess` runs the same in a child process with an address
space limit and a timeout, for files that arrive over the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.container
import numpy as np

from tapmask_media.errors import (
    EmptyFileError,
    MediaError,
    MediaLimitError,
    NotAVideoError,
    NoVideoStreamError,
    ProbeTimeoutError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from tapmask_media.mp4box import image_brand, looks_like_mp4, truncation_problem
from tapmask_media.orientation import display_size

#: Demuxers we accept, as FFmpeg names them (``container.format.name``).
ALLOWED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"})
_FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"


@dataclass(frozen=True)
class ProbeLimits:
    """Caps for untrusted input; the defaults fit phone and camera footage up to 4K."""

    max_file_bytes: int = 4 * 1024**3
    max_pixels: int = 4096 * 2304
    max_streams: int = 8
    max_duration_s: float = 3 * 3600.0
    max_frames: int = 1_000_000
    probesize: int = 10_000_000
    analyzeduration_us: int = 5_000_000
    #: Shorter sides have too few pixels for a click to mean anything (the smallest test
    #: clips are 32x24).
    min_side: int = 16
    #: Phones film slow motion at 240 fps; 480 leaves room, 1000 is not footage (16x16 at
    #: 1000 fps was accepted: 60 000 frames a minute of nothing to track).
    max_fps: float = 480.0


@dataclass(frozen=True)
class VideoInfo:
    """What a user (and the pipeline) needs to know about a video file."""

    width: int
    height: int
    #: Counter-clockwise display rotation in degrees, 0..359 (from the display matrix),
    #: 0 if none. Players show the frame turned by it: see ``display_width``.
    rotation: int
    #: The raw display matrix (9 ints, FFmpeg layout) to copy to the output, if any.
    display_matrix: tuple[int, ...] | None
    frame_count: int
    #: Average frame rate (``None`` when the container does not say).
    fps: Fraction | None
    time_base: Fraction
    duration_s: float
    has_audio: bool
    video_codec: str
    audio_codec: str | None
    format_name: str
    pix_fmt: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def display_width(self) -> int:
        """Width of the picture as players show it (after rotation): clicks use it."""
        return display_size(self.width, self.height, self.rotation)[0]

    @property
    def display_height(self) -> int:
        """Height of the picture as players show it (after rotation)."""
        return display_size(self.width, self.height, self.rotation)[1]

    def to_json(self) -> str:
        d = asdict(self)
        d["fps"] = None if self.fps is None else str(self.fps)
        d["time_base"] = str(self.time_base)
        d["display_matrix"] = None if self.display_matrix is None else list(self.display_matrix)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> VideoInfo:
        d = json.loads(text)
        d["fps"] = None if d["fps"] is None else Fraction(d["fps"])
        d["time_base"] = Fraction(d["time_base"])
        dm = d["display_matrix"]
        d["display_matrix"] = None if dm is None else tuple(int(v) for v in dm)
        return cls(**d)


def _sniff_container(path: Path) -> bool:
    """True if the first bytes look like MP4/MOV, Matroska/WebM or AVI."""
    with path.open("rb") as fh:
        head = fh.read(16)
    return (
        looks_like_mp4(head)
        or head[:4] == b"\x1a\x45\xdf\xa3"
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
    )


def check_file(path: Path, limits: ProbeLimits) -> Path:
    """Checks that need no demuxer: exists, regular file, not empty, not too big."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise MediaError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if size == 0:
        raise EmptyFileError(f"{path}: the file is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise MediaLimitError(
            f"{path}: the file is {size} bytes, more than the {limits.max_file_bytes} allowed"
        )
    return path.resolve()


def _check_mp4_complete(path: Path, resolved: Path) -> None:
    """Raise ``TruncatedFileError`` for an MP4/MOV cut short (see ``mp4box``): FFmpeg
    alone may call such a file one with no video stream, or not notice at all."""
    with resolved.open("rb") as fh:
        head = fh.read(16)
    if not looks_like_mp4(head):
        return
    brand = image_brand(head)
    if brand is not None:
        raise NotAVideoError(
            f"{path}: an image ({brand.upper()}), not a video: upload the video itself"
        )
    problem = truncation_problem(resolved)
    if problem is not None:
        raise TruncatedFileError(
            f"{path}: the file is truncated or incomplete: {problem} (an unfinished "
            "upload, copy or recording?)"
        )


def open_input(path: Path, limits: ProbeLimits | None = None) -> av.container.InputContainer:
    """Open ``path`` for reading with the safety options above; raise ``MediaError``."""
    limits = limits or ProbeLimits()
    resolved = check_file(path, limits)
    _check_mp4_complete(path, resolved)
    options = {
        "protocol_whitelist": "file",
        "format_whitelist": _FORMAT_WHITELIST,
        "probesize": str(limits.probesize),
        "analyzeduration": str(limits.analyzeduration_us),
        # One more than allowed, so that too many streams are seen and refused below
        # (FFmpeg itself would drop the rest silently).
        "max_streams": str(limits.max_streams + 1),
        # mov: never open files referenced from inside this one.
        "enable_drefs": "0",
        "use_absolute_path": "0",
    }
    try:
        # "file:" so that a name with a colon is never read as another protocol.
        container = av.open(f"file:{resolved}", mode="r", container_options=options)
    except av.error.FFmpegError as exc:
        if _sniff_container(resolved):
            raise TruncatedFileError(
                f"{path}: the video file is truncated or damaged ({exc.strerror})"
            ) from exc
        raise NotAVideoError(
            f"{path}: not a video file (no MP4, MOV, WebM, Matroska or AVI container found)"
        ) from exc
    if container.format.name not in ALLOWED_FORMATS:
        container.close()
        raise UnsupportedFormatError(
            f"{path}: container format {container.format.name!r} is not accepted "
            "(use MP4/MOV, WebM/Matroska or AVI)"
        )
    if len(container.streams) > limits.max_streams:
        container.close()
        raise MediaLimitError(
            f"{path}: more than {limits.max_streams} streams (video, audio, subtitles...), "
            "the most allowed"
        )
    return container


def display_matrix_of(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix side data as 9 ints, or ``None``."""
    try:
        # Typed as a TypedDict in PyAV's stubs; at run time a mapping keyed by type name.
        sd = cast(Any, frame.side_data)["DISPLAYMATRIX"]
    except KeyError:
        return None
    return tuple(int(v) for v in np.frombuffer(bytes(sd), dtype="<i4")[:9])


def probe(path: Path, limits: ProbeLimits | None = None) -> VideoInfo:
    """Describe ``path``, or raise a ``MediaError`` naming what is wrong with it."""
    limits = limits or ProbeLimits()
    with open_input(path, limits) as container:
        if not container.streams.video:
            raise NoVideoStreamError(f"{path}: the file has no video stream")
        video = container.streams.video[0]
        cc = video.codec_context
        if cc is None or cc.width <= 0 or cc.height <= 0:
            raise NotAVideoError(f"{path}: the video stream has no decodable picture size")
        if cc.width * cc.height > limits.max_pixels:
            raise MediaLimitError(
                f"{path}: {cc.width}x{cc.height} pixels per frame is more than the "
                f"{limits.max_pixels} allowed"
            )
        if min(cc.width, cc.height) < limits.min_side:
            raise MediaLimitError(
                f"{path}: {cc.width}x{cc.height} pixels is too small to click on; each side "
                f"needs at least {limits.min_side} pixels"
            )
        time_base = video.time_base or Fraction(1, 90000)
        audio = container.streams.audio[0] if container.streams.audio else None
        declared = int(video.frames or 0)

        count = 0
        first: av.VideoFrame | None = None
        start: int | None = None
        end: int | None = None
        # The audio is copied whole into the result: an hour of it behind a 2 s video
        # would cost the renderer the hour, so its length is measured too.
        audio_start: float | None = None
        audio_end: float | None = None
        streams = (video, audio) if audio is not None else (video,)
        try:
            for packet in container.demux(*streams):
                if packet.size == 0:
                    continue
                if packet.stream.index != video.index:
                    if packet.pts is not None and packet.time_base is not None:
                        t0 = float(packet.pts * packet.time_base)
                        t1 = t0 + float((packet.duration or 0) * packet.time_base)
                        audio_start = t0 if audio_start is None else min(audio_start, t0)
                        audio_end = t1 if audio_end is None else max(audio_end, t1)
                        if audio_end - audio_start > limits.max_duration_s:
                            raise MediaLimitError(
                                f"{path}: the audio track is more than "
                                f"{limits.max_duration_s:.0f} s long, the most allowed"
                            )
                    continue
                count += 1
                if count > limits.max_frames:
                    raise MediaLimitError(f"{path}: more than {limits.max_frames} frames")
                if packet.pts is not None:
                    start = packet.pts if start is None else min(start, packet.pts)
                    stop = packet.pts + (packet.duration or 0)
                    end = stop if end is None else max(end, stop)
                if first is None:
                    for frame in packet.decode():
                        if isinstance(frame, av.VideoFrame):
                            first = frame
                            break
            if first is None:
                for frame in video.decode(None):
                    first = frame
                    break
        except av.error.FFmpegError as exc:
            raise TruncatedFileError(
                f"{path}: the video data is truncated or damaged at frame {count} ({exc.strerror})"
            ) from exc
        if count == 0 or first is None:
            raise TruncatedFileError(f"{path}: the video stream holds no decodable frame")
        # Only MP4/MOV count samples exactly (AVI counts time ticks, Matroska guesses).
        if declared and count < declared and container.format.name.startswith("mov"):
            raise TruncatedFileError(
                f"{path}: the file is truncated: {count} of {declared} announced frames present"
            )
        if start is not None and end is not None and end > start:
            duration_s = float((end - start) * time_base)
        elif container.duration:
            duration_s = container.duration / 1_000_000
        else:
            duration_s = 0.0
        # Frames over the time they span, and FFmpeg's guess from the stream: both must be
        # over the limit (each alone errs: AVI declares its time base, 1000; a file whose
        # frames all carry one timestamp spans one frame's time but guesses 30).
        guessed = video.guessed_rate
        if (
            count > 1
            and duration_s > 0
            and count / duration_s > limits.max_fps
            and (not guessed or float(guessed) > limits.max_fps)
        ):
            raise MediaLimitError(
                f"{path}: {count / duration_s:.0f} frames per second is more than the "
                f"{limits.max_fps:.0f} allowed"
            )
        if duration_s > limits.max_duration_s:
            raise MediaLimitError(
                f"{path}: {duration_s:.0f} s long, more than the {limits.max_duration_s:.0f} s "
                "allowed"
            )
        fps = video.average_rate or video.guessed_rate
        return VideoInfo(
            width=cc.width,
            height=cc.height,
            # FFmpeg says -90 for 270; one spelling (0..359) for events and users.
            rotation=round(first.rotation) % 360,
            display_matrix=display_matrix_of(first),
            frame_count=count,
            fps=Fraction(fps) if fps else None,
            time_base=Fraction(time_base),
            duration_s=duration_s,
            has_audio=audio is not None,
            video_codec=cc.name,
            audio_codec=(
                audio.codec_context.name if audio is not None and audio.codec_context else None
            ),
            format_name=container.format.name,
            pix_fmt=cc.pix_fmt,
        )


def _child_main(argv: list[str]) -> int:
    """Entry point of the probing child: ``path limits_json memory_limit``."""
    import resource

    path, limits_json, memory_limit = argv[0], argv[1], int(argv[2])
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    try:
        info = probe(Path(path), ProbeLimits(**json.loads(limits_json)))
    except MediaError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return 0
    except MemoryError:
        print(json.dumps({"error": "MediaLimitError", "message": f"{path}: too big to probe"}))
        return 0
    print(json.dumps({"info": info.to_json()}))
    return 0


_ERRORS: dict[str, type[MediaError]] = {
    cls.__name__: cls
    for cls in (
        MediaError,
        EmptyFileError,
        NotAVideoError,
        UnsupportedFormatError,
        TruncatedFileError,
        NoVideoStreamError,
        MediaLimitError,
        ProbeTimeoutError,
    )
}


#: The only environment variables a probing child inherits: what Python and FFmpeg need to
#: start. Everything else - database URLs, token secrets, S3 keys (``TAPMASK_*``,
#: ``AWS_*``) - stays with the parent, so a file that exploits the demuxer finds no
#: credentials in the process it took over.
CHILD_ENV_KEEP = frozenset(
    {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
)


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) reduced to :data:`CHILD_ENV_KEEP`."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if k in CHILD_ENV_KEEP}


def probe_in_subprocess(
    path: Path,
    limits: ProbeLimits | None = None,
    timeout: float = 60.0,
    memory_limit: int = 2 * 1024**3,
) -> VideoInfo:
    """:func:`probe` in a child process capped at ``memory_limit`` bytes of address space
    and ``timeout`` seconds, with none of the caller's secrets in its environment
    (:func:`child_environment`), so a hostile file cannot take the caller down with it."""
    limits = limits or ProbeLimits()
    check_file(Path(path), limits)  # cheap errors without a process start
    cmd = [
        sys.executable,
        "-c",
        "import sys; from tapmask_media.probe import _child_main; "
        "sys.exit(_child_main(sys.argv[1:]))",
        os.fspath(path),
        json.dumps(asdict(limits)),
        str(memory_limit),
    ]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=child_environment(),
        )
    except subprocess.TimeoutExpired as exc:
        raise ProbeTimeoutError(f"{path}: probing took longer than {timeout:g} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ProbeTimeoutError(
            f"{path}: the probe process failed (exit {done.returncode}); the file may need "
            "more memory than allowed or be malformed"
        )
    result = json.loads(lines[-1])
    if "error" in result:
        raise _ERRORS.get(result["error"], MediaError)(result["message"])
    return VideoInfo.from_json(result["info"])


def probe_as_checked(
    path: Path,
    expected: tuple[int, int, int],
    limits: ProbeLimits,
    timeout: float = 60.0,
    memory_limit: int = 2 * 1024**3,
) -> VideoInfo:
    """A worker's check of its input: :func:`probe_in_subprocess` with the gateway's
    ``limits``, then the picture size and frame count must be the ``expected`` (width,
    height, frame_count) the gateway probed, or the file is not the one it accepted."""
    info = probe_in_subprocess(path, limits, timeout=timeout, memory_limit=memory_limit)
    got = (info.width, info.height, info.frame_count)
    if got != tuple(expected):
        raise MediaError(
            f"{path}: the video is not the one checked at upload ({got[0]}x{got[1]}, "
            f"{got[2]} frames instead of {expected[0]}x{expected[1]}, {expected[2]} frames); "
            "upload it again"
        )
    return info
