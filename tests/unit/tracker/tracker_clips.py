"""Synthetic clips with exact ground truth, and the DAVIS tennis sequence, for tracker tests
and bench/bench_tracking.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

DAVIS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "davis-tennis"


@dataclass
class Clip:
    frames: list[npt.NDArray[np.uint8]]
    masks: list[npt.NDArray[np.bool_]]  # exact visible object pixels per frame
    click: tuple[float, float]  # a point inside the object on frame 0
    occluded: list[int]  # frames where the occluder hides most of the object


def _texture(
    rng: np.random.Generator, h: int, w: int, base: tuple[int, int, int]
) -> npt.NDArray[np.uint8]:
    """Base colour plus blurred noise: texture for the flow to lock onto."""
    coarse = rng.normal(0, 28, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    noise = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
    texture: npt.NDArray[np.uint8] = np.clip(np.array(base, np.float32) + noise, 0, 255).astype(
        np.uint8
    )
    return texture


def make_clip(
    n: int = 40,
    size: tuple[int, int] = (240, 180),
    seed: int = 0,
    occlude: bool = True,
    jump_at: int | None = None,
    two_tone: bool = False,
) -> Clip:
    """A textured ellipse moving across a textured background; a grey bar passes over it
    around the middle of the clip (a brief, nearly full occlusion). With ``jump_at`` the
    object leaps sideways on that frame; with ``two_tone`` its lower half is blue (a
    shirt and trousers), and the click lands on the red upper half."""
    rng = np.random.default_rng(seed)
    w, h = size
    background = _texture(rng, h * 2, w * 2, (70, 110, 60))
    skin = _texture(rng, h, w, (200, 80, 60))
    cloth = _texture(rng, h, w, (50, 70, 190))
    frames, masks, occluded = [], [], []
    for t in range(n):
        # Slow camera pan, object moves faster on an arc.
        ox, oy = int(t * 1.5), int(t * 0.5)
        frame = background[oy : oy + h, ox : ox + w].copy()
        # Speeds do not depend on n: a shorter clip is the same motion, cut short.
        cx = int(0.25 * w + t * 0.0125 * w)
        if jump_at is not None and t >= jump_at:
            cx += int(0.2 * w)  # too far in one frame for optical flow to follow
        cy = int(0.5 * h + 0.15 * h * np.sin(t / 40 * np.pi * 2))
        obj = np.zeros((h, w), np.uint8)
        cv2.ellipse(obj, (cx, cy), (int(0.1 * w), int(0.16 * h)), t * 2.0, 0, 360, 1, -1)
        mask = obj.astype(bool)
        frame[mask] = np.roll(skin, (cy, cx), axis=(0, 1))[mask]
        if two_tone:
            lower = mask.copy()
            lower[: cy + 2] = False
            frame[lower] = np.roll(cloth, (cy, cx), axis=(0, 1))[lower]
        if occlude:
            bar_x = int(w * 1.2 - t * 0.088 * w)
            bar = np.zeros((h, w), bool)
            bar[:, max(0, bar_x) : max(0, bar_x + int(0.22 * w))] = True
            frame[bar] = (128, 128, 140)
            if mask.sum() and (mask & bar).sum() > 0.7 * mask.sum():
                occluded.append(t)
            mask = mask & ~bar
        frames.append(frame)
        masks.append(mask)
    first = masks[0].astype(np.uint8)
    if two_tone:
        first[int(0.5 * h) :] = 0  # click on the upper (red) half
    dist = cv2.distanceTransform(first, cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return Clip(frames, masks, (float(x), float(y)), occluded)


def with_lookalike(
    clip: Clip, centre: tuple[int, int], scale: float
) -> list[npt.NDArray[np.uint8]]:
    """``clip``'s frames with a still copy of its object (from frame 0, ``scale`` times
    its size) pasted at ``centre`` on every frame: a look-alike that is not the object."""
    first = clip.masks[0]
    ys, xs = np.nonzero(first)
    rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    patch = cv2.resize(clip.frames[0][rows, cols], None, fx=scale, fy=scale)
    shape = (
        cv2.resize(
            first[rows, cols].astype(np.uint8),
            None,
            fx=scale,
            fy=scale,
            interpolation=cv2.INTER_NEAREST,
        )
        > 0
    )
    h, w = shape.shape
    x0, y0 = centre[0] - w // 2, centre[1] - h // 2
    frames = []
    for frame in clip.frames:
        out = frame.copy()
        height, width = out.shape[:2]
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)
        inside = shape[ya - y0 : yb - y0, xa - x0 : xb - x0]
        out[ya:yb, xa:xb][inside] = patch[ya - y0 : yb - y0, xa - x0 : xb - x0][inside]
        frames.append(out)
    return frames


def iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def recall(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> float:
    """Share of the true object the mask covers (what a blur must not miss)."""
    return float((pred & truth).sum() / truth.sum()) if truth.sum() else 1.0


def fixed_disc(
    shape: tuple[int, int], click: tuple[float, float], area: int
) -> npt.NDArray[np.bool_]:
    """The trivial tracker: a disc of the object's first-frame area, never moving."""
    disc = np.zeros(shape, np.uint8)
    cv2.circle(disc, (int(click[0]), int(click[1])), int(np.sqrt(area / np.pi)), 1, -1)
    return disc.astype(bool)


def load_davis() -> tuple[list[npt.NDArray[np.uint8]], list[npt.NDArray[np.bool_]]]:
    """The 70 DAVIS tennis frames (RGB) and ground-truth masks (the player and shadow)."""
    frame_paths = sorted((DAVIS / "frames").glob("*.png"))
    assert frame_paths, f"DAVIS tennis frames missing under {DAVIS}"
    frames = [_read(p, cv2.IMREAD_COLOR)[:, :, ::-1].copy() for p in frame_paths]
    masks = [_read(DAVIS / "masks" / p.name, cv2.IMREAD_GRAYSCALE) > 127 for p in frame_paths]
    return frames, masks


def _read(path: Path, flags: int) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(path), flags)
    assert image is not None, f"cannot read {path}"
    return np.asarray(image, dtype=np.uint8)


def center_click(mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """The point deepest inside ``mask`` (its distance-transform maximum)."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return float(x), float(y)
