"""What the command-line tests share: running `tapmask`, reading its output, measuring it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

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
