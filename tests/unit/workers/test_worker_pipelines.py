"""The workers' file-level units over the real core: a tiny synthetic clip end to end."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tapmask_media.masks import read_mask_stream
from tapmask_processing.track import track_to_file
from tapmask_processing.tracking import build_tracker
from tapmask_renderer.rendering import render_to_file
from tapmask_schemas import ClickPoint, Effect, ProcessingMode

W, H, N = 160, 96, 12


def square_at(i: int) -> tuple[int, int]:
    return 30 + 4 * i, 30  # top-left of a 24 px red square moving right


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "square.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(N):
            img = np.full((H, W, 3), 128, np.uint8)
            x, y = square_at(i)
            img[y : y + 24, x : x + 24] = (220, 30, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_tracked_masks_follow_the_object_and_render_hides_it(clip: Path, tmp_path: Path) -> None:
    masks = tmp_path / "m.tmask"
    calls: list[tuple[int, int]] = []
    result = track_to_file(
        clip,
        masks,
        build_tracker("cpu"),
        [ClickPoint(x=42, y=42)],
        lambda d, t: calls.append((d, t)),
    )
    assert result.frames == N and result.frames_with_object >= N - 1
    assert calls[-1] == (N, N)
    stream = list(read_mask_stream(masks))
    assert len(stream) == N
    for i in (0, N - 1):
        x, y = square_at(i)
        assert stream[i][y + 12, x + 12], f"frame {i}: square centre not masked"
        assert not stream[i][5, 5], f"frame {i}: background corner masked"

    out = tmp_path / "out.mp4"
    rendered = render_to_file(
        clip, masks, out, ProcessingMode.PRIVACY, Effect.FILL, lambda d, t: None
    )
    assert rendered.frames == N and rendered.duration_seconds > 0
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == N
    x, y = square_at(N - 1)
    centre = frames[-1][y + 12, x + 12].astype(int)
    assert not (centre[0] > 180 and centre[1] < 80), "the red square is still visible"
