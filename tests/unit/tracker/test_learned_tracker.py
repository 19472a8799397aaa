"""The learned tracker's contract on synthetic clips with exact ground truth.

(Its quality on real footage is judged in tests/e2e/test_learned_tracking.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from tracker_clips import Clip, recall, with_lookalike

from tapmask_processing.tracking import Tracker, TrackingError, build_tracker
from tapmask_processing.tracking.tracking import Prompt


@pytest.fixture(scope="module")
def learned() -> Tracker:
    tracker = build_tracker("learned")
    assert tracker.name == "learned"
    return tracker


def _run(tracker: Tracker, frames: list[np.ndarray], prompts: list[Prompt]) -> list[np.ndarray]:
    import cv2

    masks = []
    for frame, mask in zip(frames, tracker.track(iter(frames), prompts), strict=True):
        if mask.shape != frame.shape[:2]:
            mask = cv2.resize(mask.astype(np.uint8), frame.shape[1::-1]) > 0
        masks.append(mask)
    return masks


def test_the_object_is_covered_through_an_occlusion_and_unsure_frames_are_listed(
    learned: Tracker, clip: Clip
) -> None:
    masks = _run(learned, clip.frames, [Prompt(*clip.click)])
    seen = [recall(m, t) for m, t in zip(masks, clip.masks, strict=True) if t.sum() > 50]
    assert np.mean(seen) >= 0.9, f"mean recall {np.mean(seen):.2f}"
    assert min(seen) >= 0.5, f"worst frame's recall {min(seen):.2f}"
    # Never the whole frame: the mask stays about the object's size.
    assert max(float(m.mean()) for m in masks) < 0.25
    for r in learned.review:
        assert 0 <= r.start <= r.end < len(clip.frames) and r.reason


def test_a_look_alike_that_was_not_clicked_stays_visible(learned: Tracker, clip: Clip) -> None:
    w = clip.frames[0].shape[1]
    frames = with_lookalike(clip, (int(0.85 * w), 30), 0.8)
    decoy = np.zeros(clip.frames[0].shape[:2], bool)
    decoy[10:50, int(0.85 * w) - 15 : int(0.85 * w) + 15] = True
    masks = _run(learned, frames, [Prompt(*clip.click)])
    covered = [float((m & decoy).sum()) / decoy.sum() for m in masks]
    assert max(covered) < 0.2, f"the look-alike was hidden on some frame ({max(covered):.2f})"


def test_two_objects_each_hidden(learned: Tracker, clip: Clip) -> None:
    w = clip.frames[0].shape[1]
    frames = with_lookalike(clip, (int(0.85 * w), 30), 0.8)
    masks = _run(learned, frames, [Prompt(*clip.click), Prompt(int(0.85 * w), 30, object_id=1)])
    assert all(m[30, int(0.85 * w)] for m in masks), "the second object was not hidden"
    seen = [recall(m, t) for m, t in zip(masks, clip.masks, strict=True) if t.sum() > 50]
    assert np.mean(seen) >= 0.9


def test_an_object_clicked_on_a_later_frame_is_tracked_from_there(
    learned: Tracker, clip: Clip
) -> None:
    # The first frame after the occluding bar has passed, with the object in full view.
    full = clip.masks[0].sum()
    start = next(t for t in range(5, len(clip.frames)) if clip.masks[t].sum() > 0.9 * full
                 and t > max(clip.occluded, default=0))
    x, y = np.argwhere(clip.masks[start])[len(np.argwhere(clip.masks[start])) // 2][::-1]
    masks = _run(learned, clip.frames, [Prompt(float(x), float(y), frame=start)])
    assert not any(m.any() for m in masks[:start])
    later = [recall(m, t) for m, t in zip(masks[start:], clip.masks[start:], strict=True)
             if t.sum() > 50]
    assert np.mean(later) >= 0.85


def test_a_stream_left_running_does_not_overwrite_the_next_streams_review(
    learned: Tracker, clip: Clip
) -> None:
    # A worker whose stage timed out leaves that job's stream running in a thread while
    # the next job runs on the same tracker; the worker reads ``review`` when its own
    # stream ends. Job A: the clip, nothing to review; job B: the object vanishes (the
    # picture goes black) and its held mask is listed for review.
    click = [Prompt(*clip.click)]
    abandoned = learned.track(iter(clip.frames), click)
    next(abandoned)  # begun...
    black = [np.zeros_like(clip.frames[0])] * 40
    list(learned.track(iter(clip.frames[:2] + black), click))
    b_review = list(learned.review)
    assert b_review, "the vanished object's frames should be listed"
    list(abandoned)  # ... and ending after the next job's
    assert learned.review == b_review


def test_a_click_outside_the_frame_is_refused(learned: Tracker, clip: Clip) -> None:
    with pytest.raises(TrackingError, match="outside"):
        _run(learned, clip.frames[:2], [Prompt(5000, 10)])


def test_frames_that_change_size_are_refused(learned: Tracker, clip: Clip) -> None:
    frames = [clip.frames[0], clip.frames[1][:100, :100].copy()]
    with pytest.raises(TrackingError, match="earlier frames were"):
        _run(learned, frames, [Prompt(*clip.click)])


def test_the_stream_is_lazy(learned: Tracker, clip: Clip) -> None:
    pulled = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal pulled
        for frame in clip.frames * 10:
            pulled += 1
            yield frame

    masks = learned.track(frames(), [Prompt(*clip.click)])
    for _ in range(3):
        next(masks)
    assert pulled <= 4, "frames are read ahead of what was asked (memory would grow)"


def test_a_later_click_corrects_the_track_from_its_frame(learned: Tracker) -> None:
    from tracker_clips import make_clip

    clip = make_clip(occlude=False, jump_at=20)  # leaps too far for the flow at frame 20
    ys, xs = np.nonzero(clip.masks[20])
    fix = Prompt(float(np.median(xs)), float(np.median(ys)), frame=20)
    masks = _run(learned, clip.frames, [Prompt(*clip.click), fix])
    after = [recall(m, t) for m, t in zip(masks[20:], clip.masks[20:], strict=True)]
    assert min(after) >= 0.8, f"after the correction, worst recall {min(after):.2f}"
    # The old place is given up: the mask is about the object's size, not two of them.
    assert max(float(m.sum()) for m in masks[21:]) < 2.5 * float(clip.masks[20].sum())
