"""The whole-video eraser on synthetic clips whose clean background is known exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from tapmask_processing.rendering.inpaint import MASK_DILATION_PX, erase_stream
from tapmask_processing.rendering.wholevideo import WholeVideoEraser

Frame = NDArray[np.uint8]
Mask = NDArray[np.bool_]
Clip = list[tuple[Frame, Mask, Frame]]

WIDTH, HEIGHT = 256, 160


def _texture(width: int, height: int, seed: int) -> Frame:
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), dtype=np.float32)
    for cell, amp in ((32, 80.0), (8, 50.0), (3, 30.0)):
        small = rng.random((height // cell + 2, width // cell + 2, 3), dtype=np.float32)
        img += amp * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(width * height // 800):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = rng.integers(3, 16, 2)
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x, y), (x + int(size[0]), y + int(size[1])), colour, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _clip(
    frames: int,
    centre_x: list[int],
    pan: tuple[int, int] = (0, 0),
    light: list[float] | None = None,
    seed: int = 0,
) -> Clip:
    """(frame, exact mask, clean background): a textured ellipse at `centre_x[i]` over a
    scene panned by whole pixels per frame, its brightness offset by `light[i]` levels."""
    mx, my = abs(pan[0]) * frames + 1, abs(pan[1]) * frames + 1
    scene = _texture(WIDTH + mx, HEIGHT + my, seed)
    sticker = _texture(WIDTH, HEIGHT, seed + 1)
    clip: Clip = []
    for i in range(frames):
        x0 = mx // 2 + pan[0] * (i - frames // 2)
        y0 = my // 2 + pan[1] * (i - frames // 2)
        clean = np.ascontiguousarray(scene[y0 : y0 + HEIGHT, x0 : x0 + WIDTH])
        if light is not None:
            clean = np.clip(clean.astype(np.float32) + light[i], 0, 255).astype(np.uint8)
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        cv2.ellipse(mask, (centre_x[i], HEIGHT // 2), (WIDTH // 10, HEIGHT // 5), 0, 0, 360, 1, -1)
        frame = clean.copy()
        frame[mask > 0] = sticker[mask > 0]
        clip.append((frame, mask > 0, clean))
    return clip


def _erase(clip: Clip, tmp: Path) -> tuple[list[Frame], dict[int, int]]:
    eraser = WholeVideoEraser(WIDTH, HEIGHT, tmp)
    size = eraser.small_size()
    for frame, mask, _ in clip:
        grey = cv2.resize(
            cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA
        )
        eraser.analyse(np.asarray(grey, np.uint8), mask)
    eraser.plan()
    for i, (frame, _, _) in enumerate(clip):
        if eraser.needs(i):
            eraser.keep(i, frame)
    outs, invented = [], {}
    for i, (frame, _, _) in enumerate(clip):
        out, n = eraser.render(i, frame)
        outs.append(out)
        if n:
            invented[i] = n
    eraser.close()
    return outs, invented


def _hole(mask: Mask) -> Mask:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1,) * 2)
    return np.asarray(cv2.dilate(mask.astype(np.uint8), k), bool)


def _psnr(out: Frame, clean: Frame, where: Mask) -> float:
    diff = out[where].astype(np.float64) - clean[where].astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(float(np.mean(diff**2)), 1e-9)))


def _still_then_leaves(frames: int = 48, still: int = 30) -> list[int]:
    """Sits at x=80 for `still` frames (longer than the window eraser's reach), then
    walks right and out of the way."""
    return [80 if i < still else 80 + 6 * (i - still) for i in range(frames)]


def test_a_hole_is_filled_from_a_frame_far_away(tmp_path: Path) -> None:
    clip = _clip(48, _still_then_leaves())
    outs, invented = _erase(clip, tmp_path)
    for i in (0, 10, 29):
        _frame, mask, clean = clip[i]
        assert _psnr(outs[i], clean, _hole(mask)) > 40, i
    assert not invented
    # The window eraser cannot see 30 frames ahead: frame 0 is invented there.
    window = list(erase_stream((f, m) for f, m, _ in clip))
    assert _psnr(window[0], clip[0][2], _hole(clip[0][1])) < 25


def test_a_panning_camera_is_followed(tmp_path: Path) -> None:
    clip = _clip(40, [int(WIDTH * (0.2 + 0.6 * i / 39)) for i in range(40)], pan=(3, 1))
    outs, invented = _erase(clip, tmp_path)
    scores = [_psnr(o, c, _hole(m)) for o, (_, m, c) in zip(outs, clip, strict=True)]
    assert min(scores) > 30 and float(np.mean(scores)) > 38, scores
    assert not invented


def test_pixels_outside_the_hole_are_untouched(tmp_path: Path) -> None:
    clip = _clip(24, [60 + 5 * i for i in range(24)])
    outs, _ = _erase(clip, tmp_path)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 3,) * 2)
    for out, (frame, mask, _) in zip(outs, clip, strict=True):
        # More than the hole's growth (4 px, to the half pixel) away from the object.
        away = ~np.asarray(cv2.dilate(mask.astype(np.uint8), k), bool)
        assert np.array_equal(out[away], frame[away])


def test_a_fringe_the_mask_misses_is_not_copied(tmp_path: Path) -> None:
    """Fur past the mask: a pure-red band 5 px wide around the object, not in its mask.
    Copying from a frame where the object was nearby would paint red into the hole."""
    clip = _clip(40, [40 + 4 * i for i in range(40)])
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
    fringed: Clip = []
    for frame, mask, clean in clip:
        band = np.asarray(cv2.dilate(mask.astype(np.uint8), kernel), bool) & ~mask
        frame = frame.copy()
        frame[band] = (255, 0, 0)
        fringed.append((frame, mask, clean))
    outs, _ = _erase(fringed, tmp_path)
    for i in (5, 20, 35):
        out, hole = outs[i], _hole(fringed[i][1])
        red = (out[..., 0] > 200) & (out[..., 1] < 60) & (out[..., 2] < 60)
        # The frame's own fringe outside the hole stays (it is not masked); none inside.
        assert int((red & hole).sum()) == 0, i


def test_a_light_change_leaves_no_seam(tmp_path: Path) -> None:
    """The frames that show the background are 20 levels brighter than frame 0: the fill
    is matched to the frame's exposure (no edge at the hole's border)."""
    light = [0.0 if i < 30 else 20.0 for i in range(48)]
    clip = _clip(48, _still_then_leaves(), light=light)
    outs, _ = _erase(clip, tmp_path)
    _frame, mask, clean = clip[0]
    hole = _hole(mask)
    err = outs[0][hole].astype(np.float32) - clean[hole].astype(np.float32)
    assert abs(float(err.mean())) < 4, float(err.mean())
    assert _psnr(outs[0], clean, hole) > 30


def test_what_no_frame_shows_is_invented_and_reported(tmp_path: Path) -> None:
    clip = _clip(12, [WIDTH // 2] * 12)
    outs, invented = _erase(clip, tmp_path)
    assert sorted(invented) == list(range(12))
    # Filled (no trace of the object's texture left as it was).
    frame, mask, _ = clip[0]
    assert not np.array_equal(outs[0][mask], frame[mask])


def test_render_needs_a_plan(tmp_path: Path) -> None:
    eraser = WholeVideoEraser(WIDTH, HEIGHT, tmp_path)
    frame, mask, _ = _clip(1, [100])[0]
    grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), eraser.small_size())
    eraser.analyse(np.asarray(grey, np.uint8), mask)
    with pytest.raises(RuntimeError, match="plan"):
        eraser.render(0, frame)
    with pytest.raises(ValueError, match="mask"):
        eraser.analyse(np.asarray(grey, np.uint8), mask[:10])
    eraser.close()
