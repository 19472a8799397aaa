"""The eraser on synthetic clips whose clean background is known exactly."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from tapmask_processing.rendering import inpaint
from tapmask_processing.rendering.inpaint import DEFAULT_WINDOW, MASK_DILATION_PX, erase_stream

Frame = NDArray[np.uint8]
Mask = NDArray[np.bool_]
Clip = list[tuple[Frame, Mask, Frame]]

WIDTH, HEIGHT, FRAMES = 256, 160, 24


def _texture(width: int, height: int, seed: int) -> Frame:
    """Coloured multi-scale noise with hard-edged patches: no spatial fill can guess it."""
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


def _clip(pan: tuple[int, int], moving: bool = True, noise: float = 0.0, seed: int = 0) -> Clip:
    """(frame, exact object mask, clean background) per frame.

    The camera pans by whole pixels per frame over a larger scene (so the clean background
    is exact); a textured ellipse crosses the frame, or stays put when not `moving`.
    """
    mx, my = abs(pan[0]) * FRAMES + 1, abs(pan[1]) * FRAMES + 1
    scene = _texture(WIDTH + mx, HEIGHT + my, seed)
    sticker = _texture(WIDTH, HEIGHT, seed + 1)
    rng = np.random.default_rng(seed + 2)
    clip: Clip = []
    for i in range(FRAMES):
        x0 = (mx // 2) + pan[0] * (i - FRAMES // 2)
        y0 = (my // 2) + pan[1] * (i - FRAMES // 2)
        clean = np.ascontiguousarray(scene[y0 : y0 + HEIGHT, x0 : x0 + WIDTH])
        cx = int(WIDTH * (0.2 + 0.6 * i / (FRAMES - 1))) if moving else WIDTH // 2
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        cv2.ellipse(mask, (cx, HEIGHT // 2), (WIDTH // 10, HEIGHT // 5), 0, 0, 360, 1, -1)
        frame = clean.copy()
        frame[mask > 0] = sticker[mask > 0]
        if noise:
            grain = rng.normal(0.0, noise, frame.shape)
            frame = np.clip(frame + grain, 0, 255).astype(np.uint8)
        clip.append((frame, mask > 0, clean))
    return clip


def _parallax_clip(seed: int = 5) -> Clip:
    """Two background planes at different depths: the far half slides 1 px per frame, the
    near half 3 px, as a camera moving sideways sees them. The object straddles both."""
    far = _texture(WIDTH + 4 * FRAMES, HEIGHT, seed)
    near = _texture(WIDTH + 4 * FRAMES, HEIGHT, seed + 1)
    sticker = _texture(WIDTH, HEIGHT, seed + 2)
    clip: Clip = []
    for i in range(FRAMES):
        top = far[: HEIGHT // 2, i : i + WIDTH]
        bottom = near[HEIGHT // 2 :, 3 * i : 3 * i + WIDTH]
        clean = np.ascontiguousarray(np.vstack([top, bottom]))
        cx = int(WIDTH * (0.2 + 0.6 * i / (FRAMES - 1)))
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        cv2.ellipse(mask, (cx, HEIGHT // 2), (WIDTH // 10, HEIGHT // 5), 0, 0, 360, 1, -1)
        frame = clean.copy()
        frame[mask > 0] = sticker[mask > 0]
        clip.append((frame, mask > 0, clean))
    return clip


def _dilated(mask: Mask) -> Mask:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1,) * 2)
    return np.asarray(cv2.dilate(mask.astype(np.uint8), kernel) > 0, dtype=bool)


def _spatial_only(clip: Clip) -> list[Frame]:
    """The naive eraser: each frame inpainted on its own (OpenCV Telea), same dilated hole."""
    return [
        np.asarray(cv2.inpaint(f, _dilated(m).astype(np.uint8), 5, cv2.INPAINT_TELEA), np.uint8)
        for f, m, _ in clip
    ]


def _erase(clip: Clip, window: int | None = None) -> list[Frame]:
    return list(erase_stream(((f, m) for f, m, _ in clip), window=window))


def _hole_psnr(clip: Clip, outputs: list[Frame]) -> float:
    err = np.concatenate(
        [
            (out[_dilated(m)].astype(np.float64) - clean[_dilated(m)]).ravel()
            for (_, m, clean), out in zip(clip, outputs, strict=True)
        ]
    )
    return float(10 * np.log10(255.0**2 / max(float(np.mean(err**2)), 1e-12)))


@pytest.mark.parametrize(("pan", "floor_db"), [((0, 0), 40.0), ((3, 1), 38.0)])
def test_erased_region_shows_the_true_background(pan: tuple[int, int], floor_db: float) -> None:
    clip = _clip(pan)
    ours = _hole_psnr(clip, _erase(clip))
    naive = _hole_psnr(clip, _spatial_only(clip))
    # The floor means something only if a spatial-only fill cannot reach it.
    assert naive < floor_db - 8, f"spatial-only baseline reaches {naive:.1f} dB"
    assert ours >= floor_db, f"erase {ours:.1f} dB < {floor_db} dB (spatial-only: {naive:.1f})"


def test_background_with_parallax_is_recovered() -> None:
    # No single camera motion explains this background: each plane needs its own.
    clip = _parallax_clip()
    ours = _hole_psnr(clip, _erase(clip))
    naive = _hole_psnr(clip, _spatial_only(clip))
    assert naive < 20.0, f"spatial-only baseline reaches {naive:.1f} dB"
    assert ours >= 24.0, f"erase {ours:.1f} dB (spatial-only: {naive:.1f})"


def test_pixels_outside_the_dilated_mask_are_untouched() -> None:
    clip = _clip((2, 1))
    outputs = _erase(clip)
    assert len(outputs) == len(clip)
    for (frame, mask, _), out in zip(clip, outputs, strict=True):
        assert out.shape == frame.shape and out.dtype == np.uint8
        outside = ~_dilated(mask)
        np.testing.assert_array_equal(out[outside], frame[outside])
        # ...and the object itself is gone.
        assert not np.array_equal(out[mask], frame[mask])


def test_frames_without_a_mask_pass_through_unchanged() -> None:
    clip = _clip((1, 0))
    items = [(f, np.zeros_like(m)) for f, m, _ in clip]
    for (frame, _), out in zip(items, erase_stream(iter(items)), strict=True):
        np.testing.assert_array_equal(out, frame)


def test_integer_masks_mean_nonzero_is_object() -> None:
    # Masks read from PNG files arrive as 0/255 bytes.
    clip = _clip((1, 0))[:6]
    as_bool = list(erase_stream((f, m) for f, m, _ in clip))
    as_bytes = list(erase_stream((f, m.astype(np.uint8) * 255) for f, m, _ in clip))
    for a, b in zip(as_bool, as_bytes, strict=True):
        np.testing.assert_array_equal(a, b)


def _flicker(clip: Clip, outputs: list[Frame]) -> float:
    """Mean absolute change between consecutive outputs inside both frames' holes."""
    diffs = []
    for i in range(1, len(clip)):
        region = _dilated(clip[i][1]) | _dilated(clip[i - 1][1])
        a = outputs[i][region].astype(np.float64)
        b = outputs[i - 1][region].astype(np.float64)
        diffs.append(np.abs(a - b).mean())
    return float(np.mean(diffs))


def test_static_background_does_not_flicker() -> None:
    # Sensor grain makes every frame's background differ a little, as in real footage.
    clip = _clip((0, 0), noise=3.0)
    outputs = _erase(clip)
    # Outside any hole, consecutive input frames differ by the grain alone.
    grain = float(
        np.mean(
            [
                np.abs(clip[i][0].astype(np.float64) - clip[i - 1][0])[
                    ~(_dilated(clip[i][1]) | _dilated(clip[i - 1][1]))
                ].mean()
                for i in range(1, len(clip))
            ]
        )
    )
    ours = _flicker(clip, outputs)
    naive = _flicker(clip, _spatial_only(clip))
    assert ours < 0.8 * grain, f"fill flickers {ours:.2f} per frame, grain is {grain:.2f}"
    assert ours < naive / 3, f"fill flickers {ours:.2f}, spatial-only {naive:.2f}"


def test_object_that_never_moves_gets_a_stable_guess() -> None:
    # No frame ever shows what is behind it: a spatial guess, made once and kept.
    clip = _clip((0, 0), moving=False)
    outputs = _erase(clip)
    assert _flicker(clip, outputs) < 0.5
    for (_, mask, _), out in zip(clip, outputs, strict=True):
        assert not np.array_equal(out[mask], clip[0][0][mask])


@pytest.mark.parametrize("max_pixels", [None, 500])
def test_never_seen_background_is_guessed_from_its_surroundings(
    max_pixels: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A smooth gradient behind an object that never moves: only a spatial fill can help,
    # at full resolution or (large holes) at reduced resolution.
    if max_pixels is not None:
        monkeypatch.setattr(inpaint, "SPATIAL_MAX_PIXELS", max_pixels)
    gx, gy = np.meshgrid(np.linspace(0, 255, WIDTH), np.linspace(255, 0, HEIGHT))
    clean = np.stack([gx, gy, (gx + gy) / 2], axis=-1).astype(np.uint8)
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[50:110, 100:160] = True
    frame = clean.copy()
    frame[mask] = (255, 0, 255)
    clip: Clip = [(frame, mask, clean)] * 3
    outputs = _erase(clip)
    grey = [np.where(_dilated(mask)[..., None], np.uint8(128), frame) for _ in clip]
    naive = _hole_psnr(clip, grey)
    ours = _hole_psnr(clip, outputs)
    assert naive < 21, f"a flat grey fill reaches {naive:.1f} dB"
    assert ours >= naive + 4, f"spatial fill {ours:.1f} dB, flat grey {naive:.1f} dB"
    for out in outputs:
        np.testing.assert_array_equal(out[~_dilated(mask)], frame[~_dilated(mask)])


@pytest.mark.parametrize("window", [1, 8, None])
def test_reads_at_most_a_window_ahead(window: int | None) -> None:
    limit = DEFAULT_WINDOW if window is None else window
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    consumed = 0

    def frames() -> Iterator[tuple[Frame, Mask]]:
        nonlocal consumed
        for i in range(500):
            mask = np.zeros((24, 32), dtype=bool)
            mask[8:16, (i % 20) : (i % 20) + 8] = True
            consumed += 1
            yield np.roll(base, i % 5, axis=1), mask

    produced = 0
    for out in erase_stream(frames(), window=window):
        produced += 1
        assert out.shape == (24, 32, 3)
        assert consumed - produced <= limit, f"{consumed} read for {produced} written"
    assert produced == consumed == 500


@pytest.mark.parametrize(("height", "width"), [(1, 1), (8, 8), (24, 200), (200, 24), (40, 40)])
@pytest.mark.parametrize("cover", ["all", "half"])
def test_odd_sizes_and_whole_frame_masks(height: int, width: int, cover: str) -> None:
    # Tiny or thin frames defeat optical flow (OpenCV's DIS crashes on some): still erase.
    rng = np.random.default_rng(height * width)
    mask = np.ones((height, width), dtype=bool)
    if cover == "half":
        mask[:, : (width + 1) // 2] = False
    items = [(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mask) for _ in range(4)]
    outputs = list(erase_stream(iter(items), window=3))
    assert len(outputs) == 4
    for (frame, _), out in zip(items, outputs, strict=True):
        assert out.shape == frame.shape and out.dtype == np.uint8
        outside = ~_dilated(mask)
        np.testing.assert_array_equal(out[outside], frame[outside])


def _one(frame: NDArray[np.generic], mask: NDArray[np.generic]) -> list[Frame]:
    return list(erase_stream(iter([(frame, mask)])))


def test_bad_input_is_named() -> None:
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    mask = np.zeros((8, 8), dtype=bool)
    with pytest.raises(ValueError, match="RGB uint8"):
        _one(rgb.astype(np.float32), mask)
    with pytest.raises(ValueError, match="RGB uint8"):
        _one(rgb[..., 0], mask)
    with pytest.raises(ValueError, match=r"mask 0 is \(8, 9\)"):
        _one(rgb, np.zeros((8, 9), dtype=bool))
    with pytest.raises(ValueError, match="window"):
        list(erase_stream(iter([(rgb, mask)]), window=0))
    with pytest.raises(ValueError, match="frame 1 is 9x8"):
        wider = (np.zeros((8, 9, 3), np.uint8), np.zeros((8, 9), bool))
        list(erase_stream(iter([(rgb, mask), wider])))


def _invented(clip: Clip) -> dict[int, int]:
    seen: dict[int, int] = {}
    list(
        erase_stream(((f, m) for f, m, _ in clip), on_invented=lambda i, n: seen.__setitem__(i, n))
    )
    return seen


def test_frames_whose_background_is_invented_are_reported() -> None:
    # Never moving: no frame shows what is behind it, in any frame.
    still = _clip((0, 0), moving=False)
    reported = _invented(still)
    assert sorted(reported) == list(range(FRAMES))
    hole = int(_dilated(still[0][1]).sum())
    assert all(n == hole for n in reported.values()), reported
    # Crossing the frame: every frame's background is seen in another one.
    assert _invented(_clip((0, 0))) == {}


def test_object_pixels_are_never_copied() -> None:
    # A pure-magenta object drifting slowly over a magenta-free background: any magenta
    # in the output came from the object in another frame.
    clip = [
        (np.where(m[..., None], np.uint8(255) * np.array([1, 0, 1], np.uint8), c), m, c)
        for _, m, c in _clip((2, 1), seed=4)
    ]
    for (_, mask, clean), out in zip(clip, _erase(clip), strict=True):
        o = out.astype(np.int16)
        magenta = (o[..., 0] > 200) & (o[..., 2] > 200) & (o[..., 1] < 60)
        assert not (magenta & ~((clean[..., 1] < 60) & (clean[..., 0] > 200)))[_dilated(mask)].any()


def test_empty_masks_are_not_reported_and_pass_through() -> None:
    clip = [(f, np.zeros_like(m), c) for f, m, c in _clip((1, 0))]
    assert _invented(clip) == {}
