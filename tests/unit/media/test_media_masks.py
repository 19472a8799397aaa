"""The .tmask stream and PNG mask folders round-trip exactly and reject damage."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tapmask_media.masks import (
    MaskFormatError,
    MaskWriter,
    iter_masks,
    read_mask_stream,
    read_png_masks,
    write_mask_stream,
    write_png_masks,
)


def _masks(n: int, h: int = 72, w: int = 130) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        m = np.zeros((h, w), bool)
        m[10 + i : 40 + i, 20 + 2 * i : 70 + 2 * i] = True
        m ^= rng.random((h, w)) < 0.01  # odd pixels, so packing/padding errors would show
        out.append(m)
    return out


def test_stream_roundtrip_is_exact_and_compact(tmp_path: Path) -> None:
    masks = _masks(12)
    path = tmp_path / "m.tmask"
    assert write_mask_stream(path, masks, 130, 72) == 12
    back = list(read_mask_stream(path))
    assert len(back) == 12
    assert all(np.array_equal(a, b) for a, b in zip(masks, back, strict=True))
    assert path.stat().st_size < 12 * 72 * 130 / 4  # far below one byte per pixel


def test_stream_written_to_a_pipe_has_unknown_count_and_still_reads() -> None:
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    pipe = Pipe()
    writer = MaskWriter(pipe, 130, 72)
    for m in _masks(3):
        writer.write(m)
    writer.close()
    assert len(list(iter_masks(io.BytesIO(pipe.getvalue())))) == 3


def test_truncated_or_foreign_streams_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.tmask"
    write_mask_stream(path, _masks(4), 130, 72)
    data = path.read_bytes()
    with pytest.raises(MaskFormatError, match="truncated"):
        list(iter_masks(io.BytesIO(data[:-5])))
    with pytest.raises(MaskFormatError, match="magic"):
        list(iter_masks(io.BytesIO(b"PNG" + data[3:])))
    # Header promises 4 masks; cut one whole frame off the end.
    first_len = int.from_bytes(data[20:24], "little")
    one_frame = data[: 20 + 4 + first_len]
    with pytest.raises(MaskFormatError, match="header says 4"):
        list(iter_masks(io.BytesIO(one_frame)))


def test_wrong_size_mask_is_refused() -> None:
    writer = MaskWriter(io.BytesIO(), 130, 72)
    with pytest.raises(MaskFormatError, match="130x72"):
        writer.write(np.zeros((10, 10), bool))


def test_png_folder_roundtrip_sorted_255_object(tmp_path: Path) -> None:
    masks = _masks(11)
    assert write_png_masks(tmp_path / "png", masks) == 11
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert names[0] == "00000.png" and names[-1] == "00010.png"
    back = list(read_png_masks(tmp_path / "png", size=(130, 72)))
    assert all(np.array_equal(a, b) for a, b in zip(masks, back, strict=True))
    with pytest.raises(MaskFormatError, match="the video is 64x64"):
        list(read_png_masks(tmp_path / "png", size=(64, 64)))
    with pytest.raises(MaskFormatError, match="not found"):
        list(read_png_masks(tmp_path / "nowhere"))


def test_masks_drawn_on_the_rotated_picture_get_a_hint(tmp_path: Path) -> None:
    """130x72 masks for a video stored 72x130 (shown rotated): the error says which."""
    write_png_masks(tmp_path / "png", _masks(2))
    with pytest.raises(MaskFormatError, match="stored frame's pixels, before display rotation"):
        list(read_png_masks(tmp_path / "png", size=(72, 130)))
    with pytest.raises(MaskFormatError, match=r"the video is 64x64$"):
        list(read_png_masks(tmp_path / "png", size=(64, 64)))
