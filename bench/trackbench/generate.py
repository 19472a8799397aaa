"""Labelled tracking sequences with exact masks, generated from a seed.

Each sequence (``WIDTH`` x ``HEIGHT``, ``FRAMES`` frames) is composed, back to front, of:

- a background: consecutive real frames of a shared clip (its own people and things
  move) seen through a synthetic camera that pans, zooms and shakes;
- sometimes a look-alike: a second copy of the object, recoloured a little (hue, saturation,
  brightness), on a path that crosses the object's, behind or in front of it;
- the object: a real cut-out (``sources``) moving slow or fast along a smooth path,
  turning, changing scale, motion-blurred when fast (the sprite rendered at five instants
  of the exposure and averaged), sometimes leaving the frame and coming back;
- occluders passing in front: a pole (a vertical strip of real footage), foliage (real
  tree texture from the juggling clip under a ragged, holed alpha) or a person (another
  cut-out);
- a light change over the whole frame (a ramp or a sudden dimming) and mild sensor noise.

The truth is exact: the object's *visible* alpha (its alpha times what every layer in
front leaves through) is known per pixel, and its mask is ``alpha >= 0.5``; a frame
rendered without the object differs from the real one only where that alpha is above 0
(``tests/bench/test_tracking_suite.py`` checks it). Everything is drawn from
``numpy.random.default_rng(seed)``: a seed gives the same frames and masks on every
machine that has the same cut-outs (cached PNGs, see ``sources``).

The split, fixed once: even seeds are the TUNING set, odd seeds the EVALUATION set; and an
(object, background clip) pair belongs to one split only (object index + background index
even: tuning; odd: evaluation), so every evaluation sequence is a combination no tuning
sequence has, though each object and each background appear in both. Seeds
``0 .. SEEDS - 1``. Thresholds are chosen on the tuning set only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from trackbench.sources import BACKGROUNDS, OBJECTS, Cutout, cutout, read_frames

WIDTH, HEIGHT, FRAMES = 512, 288, 36
#: Sequences in the benchmark: seeds 0 .. SEEDS - 1 (half tuning, half evaluation).
SEEDS = 72
Split = Literal["tuning", "evaluation"]

Mask = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]


def split_of(seed: int) -> Split:
    """The split rule: even seeds tune, odd seeds evaluate."""
    return "tuning" if seed % 2 == 0 else "evaluation"


def seeds(split: str) -> list[int]:
    """The seeds of ``split`` (``tuning``, ``evaluation`` or ``all``)."""
    if split == "all":
        return list(range(SEEDS))
    return [s for s in range(SEEDS) if split_of(s) == split]


def pairs(split: Split) -> list[tuple[int, int]]:
    """(object index, background index) pairs of ``split``: never an object on its own
    clip; parity of the index sum picks the split."""
    parity = 0 if split == "tuning" else 1
    return [
        (i, j)
        for i, obj in enumerate(OBJECTS)
        for j, clip in enumerate(BACKGROUNDS)
        if clip != obj.clip and (i + j) % 2 == parity
    ]


@dataclass
class Sequence:
    """One labelled sequence; ``masks`` are the object's exact visible pixels."""

    name: str
    seed: int
    split: str
    frames: list[npt.NDArray[np.uint8]]
    masks: list[Mask]
    alpha: list[F32]  # the object's visible alpha per frame
    click: tuple[float, float]  # the first click: deepest point of the frame-0 mask
    lookalike: list[Mask] | None = None  # the look-alike's visible pixels per frame
    meta: dict[str, object] = field(default_factory=dict)


def deepest_point(mask: Mask) -> tuple[float, float]:
    """The point deepest inside ``mask`` (its distance-transform maximum)."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return float(x), float(y)


# --- sprites --------------------------------------------------------------------------------


def _sprite(
    rgb: npt.NDArray[np.uint8],
    alpha: F32,
    centre: tuple[float, float],
    angle: float,
    scale: float,
    flip: bool,
) -> tuple[F32, F32]:
    """The cut-out placed on the frame: premultiplied RGB (H x W x 3) and alpha."""
    h, w = alpha.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    if flip:
        # x -> w - x before rotating
        m = m @ np.array([[-1.0, 0.0, w], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m[0, 2] += centre[0] - w / 2.0
    m[1, 2] += centre[1] - h / 2.0
    premult = rgb.astype(np.float32) * alpha[:, :, None]
    a = cv2.warpAffine(
        alpha,
        m,
        (WIDTH, HEIGHT),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    c = cv2.warpAffine(
        premult,
        m,
        (WIDTH, HEIGHT),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.asarray(c, np.float32), np.asarray(a, np.float32)


@dataclass
class _Mover:
    """A cut-out on a path: waypoints at equal times, eased between; turning and scaling."""

    cut: Cutout
    waypoints: list[tuple[float, float]]
    base_scale: float
    scale_end: float
    spin: float  # degrees a frame
    flip: bool
    blur: bool
    recolour: tuple[float, float, float] | None = None  # hue shift, saturation, value
    pose_offset: int = 0

    def state(self, t: float) -> tuple[tuple[float, float], float, float]:
        k = len(self.waypoints) - 1
        u = min(max(t / (FRAMES - 1), 0.0), 1.0) * k
        i = min(int(u), k - 1)
        f = u - i
        f = 0.5 - 0.5 * np.cos(np.pi * f)  # eased
        (x0, y0), (x1, y1) = self.waypoints[i], self.waypoints[i + 1]
        pos = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)
        scale = self.base_scale * float(np.exp(np.log(self.scale_end) * t / (FRAMES - 1)))
        return pos, self.spin * t, scale

    def speed(self, t: int) -> float:
        (a, _, _), (b, _, _) = self.state(t - 0.5), self.state(t + 0.5)
        return float(np.hypot(b[0] - a[0], b[1] - a[1]))

    def render(self, t: int) -> tuple[F32, F32]:
        poses = len(self.cut.rgb)
        pose = (t + self.pose_offset) % (2 * poses - 2) if poses > 1 else 0
        if pose >= poses:
            pose = 2 * poses - 2 - pose  # ping-pong through the animated cut-out
        rgb, alpha = self.cut.rgb[pose], self.cut.alpha[pose]
        if self.recolour is not None:
            rgb = _recolour(rgb, *self.recolour)
        instants = (t - 0.4, t - 0.2, t, t + 0.2, t + 0.4) if self.blur else (t,)
        colour = np.zeros((HEIGHT, WIDTH, 3), np.float32)
        cover = np.zeros((HEIGHT, WIDTH), np.float32)
        for s in instants:
            pos, angle, scale = self.state(s)
            c, a = _sprite(rgb, alpha, pos, angle, scale, self.flip)
            colour += c
            cover += a
        n = np.float32(len(instants))
        return colour / n, cover / n


def _recolour(
    rgb: npt.NDArray[np.uint8], hue: float, sat: float, val: float
) -> npt.NDArray[np.uint8]:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + hue) % 180
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * sat, 0, 255)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] * val, 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return np.asarray(out, np.uint8)


def _size_scale(cut: Cutout, area_share: float) -> float:
    """Scale that makes the cut-out's (first pose's) alpha cover ``area_share`` of the frame."""
    area = float(cut.alpha[0].sum())
    return float(np.sqrt(area_share * WIDTH * HEIGHT / max(area, 1.0)))


# --- occluders ------------------------------------------------------------------------------


def _pole(rng: np.random.Generator, texture: npt.NDArray[np.uint8]) -> Cutout:
    """A vertical strip of real footage, slightly tapered: a pole or a post."""
    h = HEIGHT + 40
    w = int(rng.uniform(0.03, 0.09) * WIDTH)
    ys = int(rng.integers(0, max(1, texture.shape[0] - h)))
    xs = int(rng.integers(0, max(1, texture.shape[1] - w)))
    strip = cv2.resize(np.ascontiguousarray(texture[ys : ys + h, xs : xs + w]), (w, h))
    alpha = np.ones((h, w), np.float32)
    alpha[:, :1] = 0.5
    alpha[:, -1:] = 0.5
    return Cutout("pole", [np.ascontiguousarray(strip)], [alpha])


def _foliage(rng: np.random.Generator, trees: npt.NDArray[np.uint8]) -> Cutout:
    """Real tree texture under a ragged alpha with holes (the object shows through)."""
    h = int(rng.uniform(0.6, 1.1) * HEIGHT)
    w = int(rng.uniform(0.25, 0.45) * WIDTH)
    ys = int(rng.integers(0, max(1, trees.shape[0] - h)))
    xs = int(rng.integers(0, max(1, trees.shape[1] - w)))
    patch = np.ascontiguousarray(trees[ys : ys + h, xs : xs + w])
    if patch.shape[:2] != (h, w):  # taller than the tree band: stretch it (same draws)
        patch = np.asarray(cv2.resize(patch, (w, h)), np.uint8)
    coarse = rng.normal(0, 1, (h // 12 + 2, w // 12 + 2)).astype(np.float32)
    noise = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = 1.0 - ((xx - w / 2) / (w / 2)) ** 2 - ((yy - h / 2) / (h / 2)) ** 2
    alpha = np.clip((noise + 1.6 * blob - 0.4) * 3.0, 0, 1).astype(np.float32)
    return Cutout("foliage", [patch], [np.asarray(cv2.GaussianBlur(alpha, (3, 3), 0), np.float32)])


# --- the camera -----------------------------------------------------------------------------


def _camera(
    rng: np.random.Generator, src_w: int, src_h: int, zoom: bool, shake: bool
) -> list[npt.NDArray[np.float64]]:
    """Per frame, the affine map from output pixels to source pixels."""
    base = rng.uniform(0.55, 0.8) * src_w  # crop width at zoom 1
    z0, z1 = (1.0, 1.0) if not zoom else tuple(rng.uniform(0.8, 1.3, 2))
    room_x = max(0.0, (src_w - base / min(z0, z1)) / 2)
    room_y = max(0.0, (src_h - base / min(z0, z1) * HEIGHT / WIDTH) / 2)
    pan = rng.uniform(-1, 1, 2) * np.array([room_x, room_y])
    start = np.array([src_w / 2, src_h / 2]) - pan
    end = np.array([src_w / 2, src_h / 2]) + pan * rng.uniform(0.3, 1.0)
    amp = rng.uniform(2, 6) if shake else 0.0
    maps = []
    for t in range(FRAMES):
        u = t / (FRAMES - 1)
        z = z0 + (z1 - z0) * u
        s = base / z / WIDTH  # source px per output px
        cx, cy = start + (end - start) * u
        jx, jy = rng.normal(0, amp, 2) if shake else (0.0, 0.0)
        rot = np.deg2rad(rng.normal(0, 0.6)) if shake else 0.0
        c, si = np.cos(rot) * s, np.sin(rot) * s
        m = np.array(
            [
                [c, -si, cx + jx * s - (c * WIDTH / 2 - si * HEIGHT / 2)],
                [si, c, cy + jy * s - (si * WIDTH / 2 + c * HEIGHT / 2)],
            ]
        )
        maps.append(m)
    return maps


# --- the scene ------------------------------------------------------------------------------


def _inside(rng: np.random.Generator, margin: float) -> tuple[float, float]:
    return (
        float(rng.uniform(margin * WIDTH, (1 - margin) * WIDTH)),
        float(rng.uniform(margin * HEIGHT, (1 - margin) * HEIGHT)),
    )


def generate(seed: int, *, without_target: bool = False) -> Sequence:
    """The sequence of ``seed`` (see the module docstring). ``without_target`` renders the
    same scene with the object left out (every other draw is the same): for checking that
    the masks are exact."""
    split = split_of(seed)
    rng = np.random.default_rng([seed, 16])
    options = pairs(split)
    obj_i, bg_i = options[int(rng.integers(len(options)))]
    source, clip = OBJECTS[obj_i], BACKGROUNDS[bg_i]
    cut = cutout(source.name)
    # scene features
    fast = bool(rng.random() < 0.5)
    spin = float(rng.choice([0.0, 0.0, rng.uniform(1, 4) * rng.choice([-1, 1])]))
    scale_end = float(rng.choice([1.0, rng.uniform(0.6, 0.85), rng.uniform(1.2, 1.6)]))
    leaves = bool(rng.random() < 0.3)
    has_lookalike = bool(rng.random() < 0.4)
    occluder_count = int(rng.choice([0, 1, 1, 2]))
    light = str(rng.choice(["none", "none", "ramp", "dim"]))
    zoom, shake = bool(rng.random() < 0.5), bool(rng.random() < 0.4)
    blur = fast and bool(rng.random() < 0.8)
    share = float(rng.uniform(0.02, 0.07))
    if cut.name in ("cupball", "juggleball"):
        share *= 0.6
    base_scale = _size_scale(cut, share)
    # the object's path
    step = 0.45 if fast else 0.12
    points = [_inside(rng, 0.25)]
    for k in range(3):
        if leaves and k == 1:
            x = -0.4 * WIDTH if points[-1][0] < WIDTH / 2 else 1.4 * WIDTH
            points.append((float(x), points[-1][1]))
            continue
        px = float(
            np.clip(points[-1][0] + rng.uniform(-1, 1) * step * WIDTH, 0.12 * WIDTH, 0.88 * WIDTH)
        )
        py = float(
            np.clip(points[-1][1] + rng.uniform(-1, 1) * step * HEIGHT, 0.2 * HEIGHT, 0.8 * HEIGHT)
        )
        points.append((px, py))
    flip = bool(rng.random() < 0.5)
    target = _Mover(
        cut, points, base_scale, scale_end, spin, flip, blur, pose_offset=int(rng.integers(0, 20))
    )
    # the look-alike: crosses the object's path mid-sequence, from the other side
    lookalike: _Mover | None = None
    look_in_front = False
    if has_lookalike:
        mid = target.state(FRAMES / 2)[0]
        side = 1.0 if points[0][0] < WIDTH / 2 else -1.0
        start = (float(WIDTH / 2 + side * 0.45 * WIDTH), float(rng.uniform(0.3, 0.7) * HEIGHT))
        end = (float(2 * mid[0] - start[0]), float(2 * mid[1] - start[1]))
        recolour = (
            float(rng.uniform(6, 15) * rng.choice([-1, 1])),
            float(rng.uniform(0.8, 1.2)),
            float(rng.uniform(0.85, 1.15)),
        )
        lookalike = _Mover(
            cut,
            [start, mid, end],
            base_scale * float(rng.uniform(0.85, 1.15)),
            1.0,
            0.0,
            not flip,
            False,
            recolour,
            pose_offset=int(rng.integers(0, 20)),
        )
        look_in_front = bool(rng.random() < 0.5)
    # background frames and camera
    meta_clip = {"clip": clip}
    total = 300
    from trackbench.sources import manifest

    if clip in manifest():
        total = int(manifest()[clip]["frames"])  # type: ignore[call-overload]
    bg_step = int(rng.choice([1, 2]))
    bg_start = int(rng.integers(0, max(1, total - bg_step * FRAMES - 1)))
    backgrounds = read_frames(clip, bg_start, FRAMES, bg_step)
    src_h, src_w = backgrounds[0].shape[:2]
    camera = _camera(rng, src_w, src_h, zoom, shake)
    # occluders: cross the middle of the object's path, off-frame on frame 0
    others = [
        o
        for o in OBJECTS
        if o.name != source.name and o.name not in ("cupball", "juggleball", "mug")
    ]
    occluders: list[tuple[str, _Mover]] = []
    texture_clip = read_frames(BACKGROUNDS[(bg_i + 1) % len(BACKGROUNDS)], 0, 1)[0]
    trees = read_frames("05_default_juggle.mp4", 0, 1)[0][:300]
    for _ in range(occluder_count):
        kind = str(rng.choice(["pole", "foliage", "person"]))
        if kind == "pole":
            occ = _pole(rng, texture_clip)
            occ_scale = 1.0
        elif kind == "foliage":
            occ = _foliage(rng, trees)
            occ_scale = 1.0
        else:
            occ = cutout(str(rng.choice([o.name for o in others])))
            occ_scale = float(rng.uniform(0.75, 1.0)) * HEIGHT / occ.alpha[0].shape[0]
        t_cross = float(rng.uniform(0.3, 0.8) * (FRAMES - 1))
        cross = target.state(t_cross)[0]
        half = 0.5 * occ.alpha[0].shape[1] * occ_scale + 10
        direction = float(rng.choice([-1, 1]))
        speed = float(rng.uniform(6, 18))
        x0 = cross[0] - direction * speed * t_cross
        # frame 0 must show the object clear: start the occluder well away from it
        if abs(x0 - points[0][0]) < half + 0.5 * np.sqrt(share * WIDTH * HEIGHT) + 20:
            x0 = points[0][0] - direction * (half + 0.5 * np.sqrt(share * WIDTH * HEIGHT) + 20)
            speed = abs(cross[0] - x0) / max(t_cross, 1.0)
        y = HEIGHT / 2 + (0 if kind != "person" else float(rng.uniform(0, 0.15) * HEIGHT))
        x1 = x0 + direction * speed * (FRAMES - 1)
        occluders.append(
            (
                kind,
                _Mover(
                    occ, [(x0, y), (x1, y)], occ_scale, 1.0, 0.0, bool(rng.random() < 0.5), False
                ),
            )
        )
        occluders[-1][1].state = _linear(occluders[-1][1])  # type: ignore[method-assign]
    # light
    if light == "ramp":
        g0, g1 = rng.uniform(0.6, 1.3, 2)
        gains = [float(g0 + (g1 - g0) * t / (FRAMES - 1)) for t in range(FRAMES)]
    elif light == "dim":
        at = int(rng.integers(FRAMES // 3, 2 * FRAMES // 3))
        low = float(rng.uniform(0.45, 0.7))
        gains = [1.0 if t < at else low for t in range(FRAMES)]
    else:
        gains = [1.0] * FRAMES
    # render
    frames, masks, alphas, looks = [], [], [], []
    for t in range(FRAMES):
        bg = cv2.warpAffine(
            backgrounds[t],
            camera[t],
            (WIDTH, HEIGHT),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
        canvas = np.asarray(bg, np.float32)
        layers: list[tuple[str, F32, F32]] = []
        if lookalike is not None and not look_in_front:
            layers.append(("lookalike", *lookalike.render(t)))
        layers.append(("target", *target.render(t)))
        if lookalike is not None and look_in_front:
            layers.append(("lookalike", *lookalike.render(t)))
        for kind, occ_mover in occluders:
            layers.append((kind, *occ_mover.render(t)))
        visible: dict[str, F32] = {}
        for i, (name, colour, cover) in enumerate(layers):
            through = np.ones_like(cover)
            for _, _, above in layers[i + 1 :]:
                through *= 1.0 - above
            visible[name] = cover * through
            if name == "target" and without_target:
                continue
            canvas = canvas * (1.0 - cover[:, :, None]) + colour
        noise_rng = np.random.default_rng([seed, 16, t])
        canvas = canvas * gains[t] + noise_rng.normal(0, 2.0, canvas.shape).astype(np.float32)
        frames.append(np.clip(np.round(canvas), 0, 255).astype(np.uint8))
        alphas.append(visible["target"].astype(np.float32))
        masks.append(visible["target"] >= 0.5)
        if lookalike is not None:
            looks.append(visible["lookalike"] >= 0.5)
    meta: dict[str, object] = {
        "object": source.name,
        "background": clip,
        "background_frames": [bg_start, bg_step],
        "fast": fast,
        "max_speed_px": round(max(target.speed(t) for t in range(FRAMES)), 1),
        "motion_blur": blur,
        "spin_deg_per_frame": round(spin, 2),
        "scale_change": round(scale_end, 2),
        "leaves_frame": leaves,
        "lookalike": None if lookalike is None else ("in front" if look_in_front else "behind"),
        "occluders": [k for k, _ in occluders],
        "light": light,
        "camera": {"pan": True, "zoom": zoom, "shake": shake},
        **{k: v for k, v in meta_clip.items() if k != "clip"},
    }
    if not masks[0].any():
        raise AssertionError(f"seed {seed}: the object is not visible on frame 0")
    return Sequence(
        name=f"s{seed:02d}-{source.name}-on-{clip.split('.')[0]}",
        seed=seed,
        split=split,
        frames=frames,
        masks=masks,
        alpha=alphas,
        click=deepest_point(masks[0]),
        lookalike=looks if lookalike is not None else None,
        meta=meta,
    )


def _linear(mover: _Mover):  # type: ignore[no-untyped-def]
    """Straight, uniform motion for occluders (the path's eased waypoints would stop)."""
    (x0, y0), (x1, y1) = mover.waypoints[0], mover.waypoints[-1]

    def state(t: float) -> tuple[tuple[float, float], float, float]:
        u = t / (FRAMES - 1)
        return (x0 + (x1 - x0) * u, y0 + (y1 - y0) * u), 0.0, mover.base_scale

    return state
