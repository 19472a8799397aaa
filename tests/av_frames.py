"""Writing the tests' own little clips with PyAV: frames encoded into a stream and the
encoder flushed, and silent audio. Importable by every test (``tests/`` is on the tests'
path): the bad-input corpus and the probe's unit tests make clips the same way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import av
import numpy as np


def encode_all(out: Any, stream: Any, frames: Iterable[Any]) -> None:
    """Every one of ``frames`` encoded into ``stream`` of the open container ``out``, then
    the encoder flushed (what it held back goes in too)."""
    for frame in frames:
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def silence(frames: int, rate: int) -> Iterator[av.AudioFrame]:
    """``frames`` frames of 1024 silent mono samples at ``rate`` Hz, one after another."""
    for i in range(frames):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = rate, i * 1024
        yield frame
