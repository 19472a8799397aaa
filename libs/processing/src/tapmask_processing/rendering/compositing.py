"""Hide a masked region: blur, pixelate or fill, on RGB frames or straight on yuv420p planes.

Only each part's bounding box (plus margin) is touched, so the cost follows the objects'
size, not the frame's. The region that changes is the mask dilated by ``margin`` pixels
(fully covered: alpha 1) plus a ``feather`` band where alpha falls linearly to 0; every
pixel beyond it keeps its exact value.

Hiding that really hides: the strength follows each separate part of the mask (a face, a
clicked ball), not the frame nor the union of all parts, so that every object keeps at most
``SAMPLES_ACROSS`` (6) samples across its longest side, whatever its size: pixelation leaves
at most 6 blocks across it, the blur at most 6 samples (then smoothed by a Gaussian of 1.5
samples). A face 6 samples across cannot be recognised, and what is not in the picture any
more cannot be sharpened or "super-resolved" back. The earlier blur kept ~16 samples across
(radius 12 % of the size), which left a clicked ball a recognisable ball. What survives is
the part's outline (widened by the margin) and its average colour; ``fill`` removes the
colour too. The blur is a heavy downscale -> Gaussian -> upscale, a fraction of the cost of
a full-resolution Gaussian of that radius.
Working on the decoder's yuv420p planes avoids two full-frame colour conversions per
frame (the main cost besides the codec).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

# How the masked region is hidden: the job contract's own enum (one definition), so an
# effect from an event compares identical to the one compositing checks.
from tapmask_schemas import Effect

ByteArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class EffectSettings:
    """Effect parameters; ``None`` sizes scale with the object's size."""

    effect: Effect = Effect.BLUR
    #: Pixels added around the mask that are fully covered (tracker edges are not exact).
    margin: int | None = None
    #: Width of the soft edge beyond the margin.
    feather: int = 6
    #: Blur radius in pixels; ``None``: a third of the part's longest side (6 samples
    #: across it), at least 12.
    blur_radius: int | None = None
    #: Pixel block size; ``None``: a sixth of the part's longest side, at least 8.
    block: int | None = None
    #: RGB colour for ``fill``.
    fill_rgb: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.margin is not None and self.margin < 0:
            raise ValueError("margin must be >= 0")
        if self.feather < 0:
            raise ValueError("feather must be >= 0")
        if self.blur_radius is not None and self.blur_radius < 1:
            raise ValueError("blur_radius must be >= 1")
        if self.block is not None and self.block < 2:
            raise ValueError("block must be >= 2")
        if any(not 0 <= c <= 255 for c in self.fill_rgb):
            raise ValueError("fill_rgb components must be within 0..255")


@dataclass(frozen=True)
class Region:
    """Where a frame changes: box [y0:y1, x0:x1] (even coordinates) and its alpha."""

    x0: int
    y0: int
    x1: int
    y1: int
    alpha: FloatArray
    #: Longest side of the object itself (not the padded box), for effect sizes.
    object_size: int


#: Samples (pixel blocks) an object keeps across its longest side (see the module docstring).
SAMPLES_ACROSS = 6
#: A mask in more separate parts than this (a noisy mask) is hidden as one region.
_MAX_PARTS = 32


def _margin(settings: EffectSettings, object_size: int) -> int:
    if settings.margin is not None:
        return settings.margin
    return max(3, round(0.03 * object_size))


def _as_u8(mask: BoolArray) -> ByteArray:
    return mask.view(np.uint8) if mask.dtype == np.bool_ else (mask > 0).astype(np.uint8)


def mask_region(mask: BoolArray, settings: EffectSettings) -> Region | None:
    """The changed region for the whole of ``mask`` as one object, or ``None`` when the
    mask is empty (see ``mask_regions`` for one per separate part)."""
    m8 = _as_u8(mask)
    x, y, w, h = cv2.boundingRect(m8)
    if w == 0 or h == 0:
        return None
    return _region(m8, (x, y, x + w, y + h), max(w, h), settings)


def _padded(
    box: tuple[int, int, int, int], size: int, settings: EffectSettings, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    x, y, xe, ye = box
    pad = _margin(settings, size) + settings.feather + 1
    height, width = shape
    # Even box corners so the half-resolution chroma box lines up exactly.
    x0, y0 = max(0, (x - pad) & ~1), max(0, (y - pad) & ~1)
    x1 = min(width, (xe + pad + 1) & ~1 or width)
    y1 = min(height, (ye + pad + 1) & ~1 or height)
    return x0, y0, x1, y1


def mask_regions(mask: BoolArray, settings: EffectSettings) -> list[Region]:
    """One changed region per separate part of ``mask`` (parts whose changed boxes would
    overlap are one region), each with its own ``object_size``: a small face beside a big
    clicked object is hidden at its own strength, and two faces far apart do not make one
    frame-wide region. Empty list for an empty mask."""
    m8 = _as_u8(mask)
    x, y, w, h = cv2.boundingRect(m8)
    if w == 0 or h == 0:
        return []
    crop = m8[y : y + h, x : x + w]
    count, _, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    if count <= 2 or count - 1 > _MAX_PARTS:  # one part (the usual case), or noise
        return [_region(m8, (x, y, x + w, y + h), max(w, h), settings)]
    groups: list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = []
    for cx, cy, cw, ch, _area in stats[1:]:
        own = (x + int(cx), y + int(cy), x + int(cx + cw), y + int(cy + ch))
        groups.append((own, _padded(own, max(int(cw), int(ch)), settings, mask.shape)))
    merged = True
    while merged:  # join parts whose changed boxes overlap, until none do
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                (a, pa), (b, pb) = groups[i], groups[j]
                if pa[0] < pb[2] and pb[0] < pa[2] and pa[1] < pb[3] and pb[1] < pa[3]:
                    own = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    size = max(own[2] - own[0], own[3] - own[1])
                    groups[i] = (own, _padded(own, size, settings, mask.shape))
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return [_region(m8, own, max(own[2] - own[0], own[3] - own[1]), settings) for own, _ in groups]


def _region(
    m8: ByteArray, own: tuple[int, int, int, int], size: int, settings: EffectSettings
) -> Region:
    margin = _margin(settings, size)
    x0, y0, x1, y1 = _padded(own, size, settings, (m8.shape[0], m8.shape[1]))
    crop = m8[y0:y1, x0:x1]
    # One distance transform gives both the dilation (distance <= margin: alpha 1) and the
    # feather (alpha falls to 0 over the next `feather` pixels); a separate dilate with a
    # big elliptic kernel cost 3x more.
    dist = cv2.distanceTransform((crop == 0).astype(np.uint8), cv2.DIST_L2, 5)
    band = np.float32(settings.feather + 1)
    alpha = np.clip((band + margin - dist) / band, 0.0, 1.0)
    return Region(x0, y0, x1, y1, alpha.astype(np.float32, copy=False), size)


def _shrink(patch: ByteArray, factor: int) -> ByteArray:
    """Mean of each ``factor`` x ``factor`` block (edges replicated to whole blocks).

    An exact integer scale takes OpenCV's fast INTER_AREA path (~8x faster than a
    fractional one) and keeps pixel blocks aligned to the patch corner."""
    h, w = patch.shape[:2]
    sh, sw = -(-h // factor), -(-w // factor)
    if (sh * factor, sw * factor) != (h, w):
        border = cv2.BORDER_REPLICATE
        patch = np.asarray(
            cv2.copyMakeBorder(patch, 0, sh * factor - h, 0, sw * factor - w, border)
        )
    return np.asarray(cv2.resize(patch, (sw, sh), interpolation=cv2.INTER_AREA))


def _grow(small: ByteArray, factor: int, h: int, w: int, interpolation: int) -> ByteArray:
    sh, sw = small.shape[:2]
    big = cv2.resize(small, (sw * factor, sh * factor), interpolation=interpolation)
    out: ByteArray = np.ascontiguousarray(big[:h, :w])
    return out


def _blurred(patch: ByteArray, radius: float) -> ByteArray:
    """Block-average by ~radius/2, Gaussian, upscale: strong and cheap."""
    h, w = patch.shape[:2]
    factor = max(1, round(radius / 2.0))
    small = _shrink(patch, factor)
    small = np.asarray(cv2.GaussianBlur(small, (0, 0), sigmaX=1.5, borderType=cv2.BORDER_REPLICATE))
    return _grow(small, factor, h, w, cv2.INTER_LINEAR)


def _pixelated(patch: ByteArray, block: float) -> ByteArray:
    h, w = patch.shape[:2]
    factor = max(1, round(block))
    return _grow(_shrink(patch, factor), factor, h, w, cv2.INTER_NEAREST)


def _blend(patch: ByteArray, effect: ByteArray, alpha: FloatArray) -> ByteArray:
    """patch + alpha * (effect - patch), rounded; exact ``patch`` where alpha is 0."""
    a = alpha[..., None] if patch.ndim == 3 else alpha
    p = patch.astype(np.float32)
    out = p + a * (effect.astype(np.float32) - p)
    return np.rint(out).astype(np.uint8)


def _effect_on(
    patch: ByteArray, settings: EffectSettings, region: Region, scale: int, fill: ByteArray
) -> ByteArray:
    """The fully-hidden version of ``patch`` (a plane at 1/``scale`` resolution)."""
    if settings.effect is Effect.BLUR:
        radius = settings.blur_radius or max(12, round(2 * region.object_size / SAMPLES_ACROSS))
        return _blurred(patch, radius / scale)
    if settings.effect is Effect.PIXELATE:
        block = settings.block or max(8, -(-region.object_size // SAMPLES_ACROSS))
        return _pixelated(patch, block / scale)
    return np.broadcast_to(fill, patch.shape).astype(np.uint8)


def apply_rgb(frame: ByteArray, mask: BoolArray, settings: EffectSettings) -> ByteArray:
    """A copy of the RGB (or any HxWxC uint8) ``frame`` with the masked region hidden."""
    _check(frame.shape[:2], mask)
    out = frame.copy()
    fill = np.array(settings.fill_rgb, np.uint8)
    for region in mask_regions(mask, settings):
        sl = np.s_[region.y0 : region.y1, region.x0 : region.x1]
        effect = _effect_on(out[sl], settings, region, 1, fill)
        out[sl] = _blend(out[sl], effect, region.alpha)
    return out


@dataclass(frozen=True)
class YuvEncoding:
    """How a video stores colour: the Y'CbCr matrix (luma weights of red and blue) and
    whether samples use the full 0..255 range or the limited 16..235/240 one."""

    kr: float
    kb: float
    full_range: bool = False


BT601 = YuvEncoding(0.299, 0.114)
BT709 = YuvEncoding(0.2126, 0.0722)
BT2020 = YuvEncoding(0.2627, 0.0593)
#: FFmpeg's AVColorSpace codes (stable ABI values, as PyAV's ``frame.colorspace`` gives
#: them) -> matrix. 5 BT470BG and 6 SMPTE170M are both BT.601; 9/10 BT.2020 (NCL/CL).
_MATRICES = {
    1: BT709,
    4: YuvEncoding(0.30, 0.11),  # FCC
    5: BT601,
    6: BT601,
    7: YuvEncoding(0.212, 0.087),  # SMPTE 240M
    9: BT2020,
    10: BT2020,
}
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def yuv_encoding(colorspace: int | None, color_range: int | None, height: int) -> YuvEncoding:
    """The encoding a frame's tags announce (FFmpeg codes); an untagged matrix is guessed
    from the height as FFmpeg and players do (BT.709 from 720 lines up, else BT.601)."""
    matrix = _MATRICES.get(colorspace or 0) or (BT709 if height >= 720 else BT601)
    return YuvEncoding(matrix.kr, matrix.kb, full_range=color_range == _FULL_RANGE)


def rgb_to_yuv(
    rgb: tuple[int, int, int], hd: bool, encoding: YuvEncoding | None = None
) -> tuple[int, int, int]:
    """Y'CbCr of an RGB colour in ``encoding``; without one, limited-range BT.709 for HD
    (``hd``), BT.601 otherwise."""
    enc = encoding or (BT709 if hd else BT601)
    r, g, b = (c / 255.0 for c in rgb)
    kr, kb = enc.kr, enc.kb
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    if enc.full_range:
        return (
            round(255 * y),
            min(255, max(0, round(128 + 255 * cb))),
            min(255, max(0, round(128 + 255 * cr))),
        )
    return round(16 + 219 * y), round(128 + 224 * cb), round(128 + 224 * cr)


def apply_yuv420p(
    planes: ByteArray,
    mask: BoolArray,
    settings: EffectSettings,
    encoding: YuvEncoding | None = None,
) -> bool:
    """Hide the masked region in place on a packed yuv420p array (H*3/2 x W, the layout
    of PyAV's ``to_ndarray()``). Returns whether anything changed."""
    rows, width = planes.shape
    height = rows * 2 // 3
    if height % 2 or width % 2:
        raise ValueError("yuv420p planes need an even width and height")
    # U then V follow Y, each (H/2 x W/2) row-major, i.e. packed as H/4 rows of W.
    u = planes[height : height + height // 4].reshape(height // 2, width // 2)
    v = planes[height + height // 4 :].reshape(height // 2, width // 2)
    return apply_yuv_planes(planes[:height], u, v, mask, settings, encoding)


def apply_yuv_planes(
    y_plane: ByteArray,
    u_plane: ByteArray,
    v_plane: ByteArray,
    mask: BoolArray,
    settings: EffectSettings,
    encoding: YuvEncoding | None = None,
) -> bool:
    """Hide the masked region in place on separate Y (H x W) and U, V (H/2 x W/2) planes,
    e.g. views of a decoded frame's buffers. Returns whether anything changed.

    ``encoding``: the video's colour encoding (see :func:`yuv_encoding`), so a fill shows
    the asked RGB colour; ``None`` guesses it from the height."""
    height, width = y_plane.shape
    _check((height, width), mask)
    regions = mask_regions(mask, settings)
    yc, uc, vc = rgb_to_yuv(settings.fill_rgb, hd=height >= 720, encoding=encoding)
    for region in regions:
        _hide_region(y_plane, u_plane, v_plane, region, settings, (yc, uc, vc))
    return bool(regions)


def _hide_region(
    y_plane: ByteArray,
    u_plane: ByteArray,
    v_plane: ByteArray,
    region: Region,
    settings: EffectSettings,
    fill_yuv: tuple[int, int, int],
) -> None:
    yc, uc, vc = fill_yuv
    sl = np.s_[region.y0 : region.y1, region.x0 : region.x1]
    y_plane[sl] = _blend(
        y_plane[sl],
        _effect_on(y_plane[sl], settings, region, 1, np.array(yc, np.uint8)),
        region.alpha,
    )
    csl = np.s_[region.y0 // 2 : (region.y1 + 1) // 2, region.x0 // 2 : (region.x1 + 1) // 2]
    ch, cw = u_plane[csl].shape
    alpha_c: FloatArray = np.asarray(
        cv2.resize(region.alpha, (cw, ch), interpolation=cv2.INTER_AREA), dtype=np.float32
    )
    for plane, value in ((u_plane, uc), (v_plane, vc)):
        patch = plane[csl]
        plane[csl] = _blend(
            patch, _effect_on(patch, settings, region, 2, np.array(value, np.uint8)), alpha_c
        )


def _check(shape: tuple[int, ...], mask: BoolArray) -> None:
    if mask.shape != shape:
        raise ValueError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the frame is {shape[1]}x{shape[0]}"
        )
