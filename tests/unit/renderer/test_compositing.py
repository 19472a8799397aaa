"""Blur, pixelate and fill: the object loses its detail, nothing outside its margin moves."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tapmask_processing.rendering.compositing import (
    EffectSettings,
    apply_rgb,
    apply_yuv420p,
    mask_region,
    mask_regions,
)
from tapmask_schemas import Effect

H, W = 240, 320


def _textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (H // 4, W // 4, 3), dtype=np.uint8)
    return np.asarray(cv2.resize(base, (W, H), interpolation=cv2.INTER_NEAREST))


def _disc(cx: int = 150, cy: int = 110, r: int = 45) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


def _lap_var(gray: np.ndarray, where: np.ndarray) -> float:
    return float(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F)[where].var())


def _outside(mask: np.ndarray, reach: int) -> np.ndarray:
    """Pixels farther than ``reach`` from the mask."""
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return dist > reach


@pytest.mark.parametrize("effect", list(Effect))
def test_only_the_margin_region_changes(effect: Effect) -> None:
    img, mask = _textured(), _disc()
    settings = EffectSettings(effect=effect, margin=4, feather=6)
    out = apply_rgb(img, mask, settings)
    far = _outside(mask, 4 + 6 + 2)
    assert np.array_equal(out[far], img[far])
    assert not np.array_equal(out[mask], img[mask])


@pytest.mark.parametrize("effect", [Effect.BLUR, Effect.PIXELATE])
def test_masked_object_loses_its_detail(effect: Effect) -> None:
    img, mask = _textured(), _disc()
    out = apply_rgb(img, mask, EffectSettings(effect=effect))
    g_in = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    g_out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert _lap_var(g_out, inner) < _lap_var(g_in, inner) / 20
    # The original texture cannot be read back: low correlation with the input.
    corr = np.corrcoef(g_in[inner].ravel(), g_out[inner].ravel())[0, 1]
    assert corr < 0.5


def test_fill_paints_the_colour_and_feathers_the_edge() -> None:
    img, mask = _textured(), _disc()
    out = apply_rgb(img, mask, EffectSettings(effect=Effect.FILL, fill_rgb=(255, 0, 0), margin=2))
    assert np.all(out[mask] == (255, 0, 0))
    region = mask_region(mask, EffectSettings(margin=2, feather=6))
    assert region is not None
    soft = (region.alpha > 0.05) & (region.alpha < 0.95)
    assert soft.sum() > 100  # a soft band, not a hard cut-out edge


def test_empty_mask_changes_nothing() -> None:
    img = _textured()
    yuv = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
    before = yuv.copy()
    assert not apply_yuv420p(yuv, np.zeros((H, W), bool), EffectSettings())
    assert np.array_equal(yuv, before)
    assert np.array_equal(apply_rgb(img, np.zeros((H, W), bool), EffectSettings()), img)


@pytest.mark.parametrize("effect", list(Effect))
def test_yuv420p_planes_change_only_near_the_mask(effect: Effect) -> None:
    img, mask = _textured(), _disc(cx=151, cy=111, r=40)  # odd centre: chroma alignment
    yuv = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
    before = yuv.copy()
    assert apply_yuv420p(yuv, mask, EffectSettings(effect=effect, margin=3, feather=5))
    far = _outside(mask, 3 + 5 + 2)
    assert np.array_equal(yuv[:H][far], before[:H][far])
    far_c = cv2.resize(far.astype(np.uint8), (W // 2, H // 2), interpolation=cv2.INTER_NEAREST)
    far_c = cv2.erode(far_c, np.ones((3, 3), np.uint8)) > 0
    u_before = before[H : H + H // 4].reshape(H // 2, W // 2)
    u_after = yuv[H : H + H // 4].reshape(H // 2, W // 2)
    assert np.array_equal(u_after[far_c], u_before[far_c])
    g_in, g_out = before[:H], yuv[:H]
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    if effect is not Effect.PIXELATE:  # pixelate keeps block edges; tested in RGB above
        assert _lap_var(g_out, inner) < _lap_var(g_in, inner) / 20


def test_shape_mismatch_and_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="mask is 10x10 but the frame is 320x240"):
        apply_rgb(_textured(), np.zeros((10, 10), bool), EffectSettings())
    with pytest.raises(ValueError, match="fill_rgb"):
        EffectSettings(fill_rgb=(300, 0, 0))


# --- hiding that really hides: strength follows each part's size --------------------------------


def _row_blocks(row: np.ndarray) -> int:
    """Runs of equal colour along a row of pixels (pixel blocks crossed)."""
    changes = np.any(row[1:] != row[:-1], axis=-1)
    return int(changes.sum()) + 1


@pytest.mark.parametrize("radius", [12, 45, 100])
def test_pixelation_leaves_a_few_blocks_across_the_object_whatever_its_size(radius: int) -> None:
    h, w = 2 * radius + 80, 2 * radius + 80
    rng = np.random.default_rng(radius)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    c = radius + 40
    mask = (xx - c) ** 2 + (yy - c) ** 2 <= radius**2
    out = apply_rgb(img, mask, EffectSettings(effect=Effect.PIXELATE, feather=0, margin=0))
    across = out[c, c - radius : c + radius]
    # At most SAMPLES_ACROSS (6) blocks over the object, +1 for a block cut by the grid;
    # at least 8 px blocks, so a 24 px face is 3 blocks, not a soft blur of itself.
    assert _row_blocks(across) <= 6 + 1
    assert _row_blocks(across) >= min(3, 2 * radius // 8)


@pytest.mark.parametrize("features", [4, 5])
def test_blur_wipes_out_features_a_quarter_of_a_large_object(features: int) -> None:
    """A face close to the camera (180 px): eyes and mouth are about a quarter to a fifth of
    it. The old blur (12 % radius, ~16 samples across) kept 15 % of a checkerboard of that
    size; six samples across keep under 3 %."""
    radius = 90
    h = w = 2 * radius + 80
    yy, xx = np.mgrid[0:h, 0:w]
    c = radius + 40
    cell = 2 * radius // features
    chequer = ((xx // cell + yy // cell) % 2 * 255).astype(np.uint8)
    img = np.dstack([chequer] * 3)
    mask = (xx - c) ** 2 + (yy - c) ** 2 <= radius**2
    out = apply_rgb(img, mask, EffectSettings(effect=Effect.BLUR, feather=0, margin=0))
    inner = slice(c - radius // 2, c + radius // 2)
    before = float(img[inner, inner, 0].std())
    assert float(out[inner, inner, 0].astype(np.float64).std()) < 0.03 * before


def test_each_separate_part_is_hidden_at_its_own_size() -> None:
    h, w = 240, 640
    yy, xx = np.mgrid[0:h, 0:w]
    small = (xx - 60) ** 2 + (yy - 120) ** 2 <= 15**2  # a face far from ...
    big = (xx - 480) ** 2 + (yy - 120) ** 2 <= 100**2  # ... a large clicked object
    regions = mask_regions(small | big, EffectSettings())
    assert sorted(r.object_size for r in regions) == [31, 201]
    # Untouched between them: two regions, not one frame-wide box.
    assert all(r.x1 <= 120 or r.x0 >= 360 for r in regions)
    close = (xx - 110) ** 2 + (yy - 120) ** 2 <= 15**2  # touching margins: one region
    assert len(mask_regions(small | close, EffectSettings())) == 1
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = apply_rgb(img, small | big, EffectSettings(effect=Effect.PIXELATE, margin=0, feather=0))
    assert _row_blocks(out[120, 46:75]) >= 3  # the face is blocks of its own size (8 px) ...
    assert _row_blocks(out[120, 380:580]) <= 6 + 1  # ... the object of its own
