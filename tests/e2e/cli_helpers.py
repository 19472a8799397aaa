"""What the command-line tests share: running `tapmask`, reading its output, measuring it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from tapmask_media.masks import write_png_masks

TAPMASK = Path(sys.executable).parent / "tapmask"


def run_tapmask(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The installed command as a user runs it (the cpu tracker: no GPU in tests)."""
    return subprocess.run(
        [str(TAPMASK), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TAPMASK_BACKEND": "cpu"},
        check=False,
    )


def process_with_masks(src: Path, masks: Iterable[np.ndarray], mode: str, folder: Path) -> Path:
    """``tapmask process`` of ``src`` with the given ``masks`` (written as a PNG folder) and
    ``mode``, into ``folder``; the output, after checking the command succeeded."""
    write_png_masks(folder / "m", masks)
    out = folder / "out.mp4"
    done = run_tapmask("process", src, "-o", out, "--masks", folder / "m", "--mode", mode)
    assert done.returncode == 0, done.stderr
    return out


def frames_rgb(path: Path, step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Decoded (stored, unrotated) frames, every ``step``-th, with their index."""
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % step == 0:
                yield i, f.to_ndarray(format="rgb24")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def lap_var(rgb: np.ndarray, where: np.ndarray) -> float:
    """Detail (variance of the Laplacian) of the picture at `where`."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(gray, cv2.CV_64F)[where].var())


# Where the object is on frame i, given the pixel grids: an exact boolean mask.
DiscAt = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


def write_disc_clip(
    path: Path,
    size: tuple[int, int],
    frames: int,
    disc_at: DiscAt,
    *,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    rotation: int | None = None,
) -> list[np.ndarray]:
    """A striped red/yellow object moving over a smooth background, at 24 fps, written
    with `codec`; returns the object's exact masks in decoded (stored) pixels."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack(
        [60 + 40 * np.sin(xx / 40.0), 90 + 30 * np.cos(yy / 30.0), 120 + 0 * xx], axis=2
    ).astype(np.uint8)
    stripes = ((xx // 3 + yy // 3) % 2).astype(bool)
    truth = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = options if options is not None else {"crf": "16"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            disc = disc_at(i, xx, yy)
            img = background.copy()
            img[disc & stripes] = (250, 40, 40)
            img[disc & ~stripes] = (250, 230, 30)
            truth.append(disc)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return truth
