"""``tapmask``: track, hide or erase an object in a video on one machine, no servers.

    tapmask process IN -o OUT --point X,Y [--point X,Y@FRAME ...] [--negative X,Y[@FRAME]]
                    [--faces] --mode blur|pixelate|fill|erase [--masks DIR]
                    [--backend auto|cpu|sam2]
    tapmask process IN -o OUT --faces [--mode ...]      # every face, no click needed
    tapmask masks IN --point X,Y [...] --out DIR

Clicks: see ``tapmask_cli.points`` (every ``--point`` is a new object; a trailing ``+``
adds the click to the previous object). User mistakes end with a one-line message on
stderr and exit status 1 (2 for bad command-line syntax); never a traceback.

When done, the result says which tracker made the masks (``tracker_backend``: cpu, sam2,
learned, ...; ``masks`` when they came from ``--masks``) and the frame ranges (0-based,
inclusive) where the tracker was unsure and a person should check the result (``review``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import av
import numpy as np
import numpy.typing as npt

from tapmask_cli.points import Click, PointSyntaxError, clicks_to_prompts
from tapmask_cli.settings import CliSettings
from tapmask_media.encode import EncodeSettings
from tapmask_media.errors import MediaError
from tapmask_media.masks import list_png_masks, read_png_masks, write_png_mask
from tapmask_media.probe import VideoInfo, probe
from tapmask_processing.render import RenderMode, RenderOptions, render_video
from tapmask_processing.rendering.compositing import EffectSettings
from tapmask_processing.tracking.sam_onnx import ENCODER_RUNTIMES
from tapmask_processing.tracking.tracking import (
    Frame,
    Mask,
    Prompt,
    ReviewSpan,
    Tracker,
    TrackingError,
)

EXIT_ERROR = 1


class UsageError(ValueError):
    """A combination of options that cannot work (named in the message)."""


class _ClickAction(argparse.Action):
    """Collects --point and --negative in command-line order (it decides objects)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        clicks: list[Click] = list(getattr(namespace, "clicks", None) or [])
        clicks.append(Click(text=str(values), positive=bool(self.const)))
        namespace.clicks = clicks


def _add_click_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--point",
        action=_ClickAction,
        const=True,
        metavar="X,Y[@FRAME][+]",
        help="click on an object, in pixels of the picture as a player shows it (after "
        "the file's display rotation), on frame 0 unless @FRAME; each --point is a new "
        "object, a trailing + adds it to the previous one",
    )
    p.add_argument(
        "--negative",
        action=_ClickAction,
        const=False,
        metavar="X,Y[@FRAME][+]",
        help="click on background to leave out (every object; + : the previous one only)",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "learned", "cpu", "sam2"],
        help="tracker: learned (SAM on the CPU), cpu (no model), sam2 (GPU); auto picks "
        "sam2 with CUDA and a checkpoint, else learned when its models are installed, else cpu",
    )
    p.add_argument("--sam2-checkpoint", type=Path, help="SAM 2.1 checkpoint (.pt)")
    p.add_argument("--sam2-config", help="SAM 2.1 config name")
    p.add_argument("--device", help="torch device for sam2 (cuda, cpu)")
    p.add_argument(
        "--sam-encoder",
        choices=ENCODER_RUNTIMES,
        help="the learned tracker's SAM encoder runtime (default onnxruntime; openvino: "
        "bfloat16 where the CPU has it, about twice as fast, less sure of look-alikes)",
    )
    p.add_argument(
        "--faces",
        action="store_true",
        help="also find and hide every face (no click needed; with clicks, both in one job)",
    )
    p.add_argument("--json", action="store_true", help="JSON progress lines on stdout")


def _installed_version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata),
    so it cannot disagree with what pip or uv installed."""
    try:
        return importlib.metadata.version("tapmask-cli")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tapmask", description="Hide or erase a clicked, tracked object in a video."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("process", help="track the clicked object(s) and hide or erase them")
    p.add_argument("input", type=Path, help="input video (MP4/MOV, WebM/MKV, AVI)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output MP4")
    p.add_argument("--mode", choices=[m.value for m in RenderMode], default="blur")
    p.add_argument(
        "--masks",
        type=Path,
        help="folder of one PNG mask per frame (skips tracking), in stored-frame pixels "
        "(before display rotation), as `tapmask masks` writes them",
    )
    _add_click_options(p)
    p.add_argument("--preset", help="libx264 preset (default veryfast)")
    p.add_argument("--crf", type=int, help="libx264 quality, lower is better (default 23)")
    p.add_argument("--margin", type=int, help="pixels around the mask that are covered too")
    p.add_argument("--feather", type=int, default=6, help="soft edge width in pixels")
    p.add_argument("--blur-radius", type=int, help="blur radius in pixels (default: auto)")
    p.add_argument("--block", type=int, help="pixelate block size (default: auto)")
    p.add_argument("--color", default="0,0,0", help="fill colour R,G,B (default 0,0,0)")
    p.add_argument("--erase-window", type=int, help="frames the eraser may hold")

    m = sub.add_parser("masks", help="write the tracked mask of every frame as PNG")
    m.add_argument("input", type=Path, help="input video")
    m.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for the PNG masks (stored-frame pixels, before display rotation)",
    )
    _add_click_options(m)
    return parser


class Reporter:
    """Progress: a bar on a terminal, JSON lines with --json, nothing otherwise."""

    def __init__(self, as_json: bool, stage: str, total: int, out: TextIO = sys.stdout) -> None:
        self._json = as_json
        self._stage = stage
        self._out = out
        self._last = 0.0
        self._bar: Any = None
        if not as_json and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="frame", desc=stage, file=sys.stderr)

    def emit(self, event: dict[str, Any]) -> None:
        if self._json:
            print(json.dumps(event), file=self._out, flush=True)

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        now = time.monotonic()
        if self._json and (done == total or now - self._last >= 0.25):
            self._last = now
            self.emit({"event": "progress", "stage": self._stage, "frame": done, "total": total})

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _tracked_masks(
    args: argparse.Namespace, settings: CliSettings, info: VideoInfo
) -> tuple[Iterator[npt.NDArray[np.bool_]], Tracker | _Both]:
    """The masks, lazily, and the tracker(s) making them (their review is read once they
    ran out)."""
    from tapmask_processing.track import check_prompts, iter_job_masks
    from tapmask_processing.tracking import build_face_tracker, build_tracker

    clicks: list[Click] = getattr(args, "clicks", None) or []
    if not any(c.positive for c in clicks) and not args.faces:
        raise UsageError(
            "no --point given: click on the object to track (--point X,Y), "
            "or hide every face with --faces"
        )
    prompts = clicks_to_prompts(clicks) if clicks else []
    if prompts:
        check_prompts(prompts, info)  # before the (slow) tracker is built
    faces = build_face_tracker() if args.faces else None
    tracker = (
        build_tracker(
            backend=args.backend or settings.backend,
            sam2_checkpoint=args.sam2_checkpoint or settings.sam2_checkpoint,
            sam2_config=args.sam2_config or settings.sam2_config,
            device=args.device or settings.device,
            sam_encoder=args.sam_encoder or settings.sam_encoder,
        )
        if prompts
        else None
    )
    trackers = [t for t in (tracker, faces) if t is not None]
    masks = iter_job_masks(args.input, tracker, prompts, faces, info)
    return masks, trackers[0] if len(trackers) == 1 else _Both(trackers[0], trackers[1])


class _Both:
    """Two trackers' name and review as one (the clicked objects' and the faces'), for the
    summary; their masks come united from ``iter_job_masks``."""

    def __init__(self, objects: Tracker, faces: Tracker) -> None:
        self._parts = (objects, faces)
        self.name = f"{objects.name}+{faces.name}"
        self.max_side: int | None = None

    @property
    def review(self) -> list[ReviewSpan]:
        return [r for t in self._parts for r in t.review]

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        raise NotImplementedError("masks of both come from iter_job_masks")


def _tracker_summary(tracker: Tracker | _Both | None, frames: int) -> dict[str, Any]:
    """``tracker_backend`` and ``review`` of the result; read after the mask stream ended
    (that is when a tracker fills in its review)."""
    if tracker is None:
        return {"tracker_backend": "masks", "review": []}
    from tapmask_processing.track import review_of

    review = review_of(tracker.review, frames)
    return {"tracker_backend": tracker.name, "review": [r.model_dump() for r in review]}


_MAX_SPANS_SHOWN = 8


def _review_words(review: Sequence[dict[str, Any]]) -> str:
    """``check frames 75-90: object lost, mask held and widened`` (ranges grouped by
    reason; the semicolons of reasons become commas, as parts are separated by them)."""
    by_reason: dict[str, list[str]] = {}
    for r in review[:_MAX_SPANS_SHOWN]:
        start, end = r["start_frame"], r["end_frame"]
        span = str(start) if start == end else f"{start}-{end}"
        by_reason.setdefault(str(r["reason"]).replace(";", ","), []).append(span)
    parts = [f"{', '.join(spans)}: {reason}" for reason, spans in by_reason.items()]
    more = len(review) - _MAX_SPANS_SHOWN
    if more > 0:
        parts.append(f"and {more} more range(s) (see --json)")
    single = len(review) == 1 and review[0]["start_frame"] == review[0]["end_frame"]
    return ("check frame " if single else "check frames ") + "; ".join(parts)


def _done_line(result: dict[str, Any]) -> str:
    """The line a person reads when it worked."""
    details = [f"{result['frames']} frames"]
    backend = result.get("tracker_backend")
    if backend == "masks":
        details.append("masks given")
    elif backend:
        details.append(f"tracker: {backend}")
    if result.get("review"):
        details.append(_review_words(result["review"]))
    return f"wrote {result['output']} ({'; '.join(details)})"


def _parse_color(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    try:
        rgb = tuple(int(p) for p in parts)
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or any(not 0 <= c <= 255 for c in rgb):
        raise UsageError(f"bad --color {text!r}: expected R,G,B with values 0..255")
    return rgb[0], rgb[1], rgb[2]


def _process(args: argparse.Namespace, settings: CliSettings) -> dict[str, Any]:
    if args.output.resolve() == args.input.resolve():
        raise UsageError("the output file must differ from the input file")
    if not args.output.parent.is_dir():
        raise UsageError(f"{args.output.parent}: output folder does not exist")
    info = probe(args.input)
    masks: Iterator[npt.NDArray[np.bool_]]
    tracker: Tracker | _Both | None = None
    if args.masks is not None:
        if getattr(args, "clicks", None) or args.faces:
            raise UsageError("use either --masks or --point/--faces, not both")
        count = len(list_png_masks(args.masks))
        if count != info.frame_count:
            raise UsageError(
                f"{args.masks}: {count} mask PNGs for a video of {info.frame_count} frames"
            )
        masks = read_png_masks(args.masks, size=(info.width, info.height))
    else:
        masks, tracker = _tracked_masks(args, settings, info)
    options = RenderOptions(
        mode=RenderMode(args.mode),
        effect=EffectSettings(
            margin=args.margin,
            feather=args.feather,
            blur_radius=args.blur_radius,
            block=args.block,
            fill_rgb=_parse_color(args.color),
        ),
        encode=EncodeSettings(
            preset=args.preset or settings.preset,
            crf=args.crf if args.crf is not None else settings.crf,
        ),
        erase_window=args.erase_window,
    )
    reporter = Reporter(args.json, args.mode, info.frame_count)
    started = time.monotonic()
    try:
        frames = render_video(args.input, args.output, masks, options, reporter, info)
    except BaseException:
        args.output.unlink(missing_ok=True)  # no half-written video left behind
        raise
    finally:
        reporter.close()
    elapsed = time.monotonic() - started
    return {
        "event": "done",
        "output": str(args.output),
        "frames": frames,
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 2) if elapsed > 0 else None,
        **_tracker_summary(tracker, frames),
    }


def _masks(args: argparse.Namespace, settings: CliSettings) -> dict[str, Any]:
    info = probe(args.input)
    masks, tracker = _tracked_masks(args, settings, info)
    args.out.mkdir(parents=True, exist_ok=True)
    reporter = Reporter(args.json, "track", info.frame_count)
    count = 0
    try:
        for count, mask in enumerate(masks, start=1):
            write_png_mask(args.out, count - 1, mask)
            reporter(count, info.frame_count)
    finally:
        reporter.close()
    return {
        "event": "done",
        "output": str(args.out),
        "frames": count,
        **_tracker_summary(tracker, count),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = CliSettings()
        result = _process(args, settings) if args.command == "process" else _masks(args, settings)
    except (MediaError, TrackingError, PointSyntaxError, UsageError) as exc:
        return _fail(args, str(exc))
    except av.error.FFmpegError as exc:
        # Input passed the probe but FFmpeg failed later (damaged data, odd sizes x264
        # cannot encode, disk full while muxing): still a message, not a traceback.
        return _fail(args, f"video processing failed: {exc}")
    except OSError as exc:
        return _fail(args, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except KeyboardInterrupt:
        return _fail(args, "interrupted", code=130)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(_done_line(result), file=sys.stderr)
    return 0


def _fail(args: argparse.Namespace, message: str, code: int = EXIT_ERROR) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"event": "error", "message": message}), flush=True)
    print(f"tapmask: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
