"""The in-process pipeline the CLI and services share: prompt scaling, mask sizes, counts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from tapmask_media.masks import MaskFormatError
from tapmask_processing.render import render_video
from tapmask_processing.track import iter_video_masks, track_video
from tapmask_processing.tracking.tracking import Prompt, ReviewSpan, TrackingError

VIDEOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "videos"
BEDROOM = VIDEOS / "bedroom.mp4"  # 960x540, 200 frames


class SquareTracker:
    """Marks a 20x20 square around the (scaled) click on every frame, at working size."""

    def __init__(self, max_side: int | None) -> None:
        self.max_side = max_side
        self.name = "fake"
        self.review: list[ReviewSpan] = []
        self.frame_shapes: set[tuple[int, ...]] = set()
        self.prompts: list[Prompt] = []

    def track(
        self, frames: Iterable[np.ndarray], prompts: Sequence[Prompt]
    ) -> Iterator[np.ndarray]:
        self.prompts = list(prompts)
        p = prompts[0]
        for frame in frames:
            self.frame_shapes.add(frame.shape)
            m = np.zeros(frame.shape[:2], bool)
            m[int(p.y) - 10 : int(p.y) + 10, int(p.x) - 10 : int(p.x) + 10] = True
            yield m


def test_frames_are_downscaled_prompts_scaled_and_masks_upscaled() -> None:
    tracker = SquareTracker(max_side=480)
    masks = iter_video_masks(BEDROOM, tracker, [Prompt(x=400, y=160)])
    first = next(masks)
    assert first.shape == (540, 960)
    assert tracker.frame_shapes == {(270, 480, 3)}
    assert (tracker.prompts[0].x, tracker.prompts[0].y) == (200, 80)
    ys, xs = np.nonzero(first)
    assert abs(xs.mean() - 400) < 3 and abs(ys.mean() - 160) < 3  # back in video pixels
    masks.close()


def test_track_video_hands_every_mask_to_the_sink() -> None:
    got: list[np.ndarray] = []
    n = track_video(BEDROOM, SquareTracker(None), [Prompt(x=10, y=10)], got.append)
    assert n == len(got) == 200


def test_click_outside_frame_is_refused_before_decoding() -> None:
    with pytest.raises(TrackingError, match="outside the 960x540 frame"):
        next(iter_video_masks(BEDROOM, SquareTracker(None), [Prompt(x=960, y=10)]))


def test_mask_count_must_match_frame_count(tmp_path: Path) -> None:
    few = (np.zeros((540, 960), bool) for _ in range(5))
    with pytest.raises(MaskFormatError, match="masks ran out at frame 5"):
        render_video(BEDROOM, tmp_path / "o.mp4", few)
