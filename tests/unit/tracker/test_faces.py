"""The face finder's contract: where it looks, how faces are followed, held and reviewed.

The tracking tests script the detector (which faces it reports on which frame) so that
each rule is checked on its own: a face missed on a detection is bridged, one that is
gone is held for a while and then let go, one that appears between two detections is
covered from the one before, a weak lone detection is not hidden but reviewed. The last
tests run the real CenterFace (installed by ``make install``) on real frames."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tapmask_media.decode import iter_rgb_frames
from tapmask_processing.models import centerface_file
from tapmask_processing.tracking import build_face_tracker
from tapmask_processing.tracking.faces import (
    CenterFace,
    FaceBox,
    FaceSettings,
    FaceTracker,
    decode_centerface,
    nms,
    plan_passes,
)
from tapmask_processing.tracking.tracking import Frame, TrackingError

ROOT = Path(__file__).resolve().parents[3]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
LABELS = json.loads((ROOT / "bench" / "face_labels.json").read_text())
W, H = 320, 240


class Scripted:
    """A detector that reports, for frame ``i`` (by its pixel value), ``script[i]``."""

    def __init__(self, script: dict[int, list[FaceBox]]) -> None:
        self.script = script
        self.calls: list[int] = []

    def detect(self, frame: Frame, threshold: float) -> list[FaceBox]:
        index = int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])
        self.calls.append(index)
        return [b for b in self.script.get(index, []) if b.score >= threshold]


def frames(n: int, first: int = 0) -> Iterator[Frame]:
    for i in range(first, first + n):
        f = np.zeros((H, W, 3), np.uint8)
        f[0, 0, 0], f[0, 0, 1] = i % 256, i // 256
        yield f


def face(cx: float, cy: float, size: float = 30.0, score: float = 0.8) -> FaceBox:
    return FaceBox(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, score)


SETTINGS = FaceSettings(stride=4, hold=2)


def run(script: dict[int, list[FaceBox]], n: int) -> tuple[list[np.ndarray], FaceTracker]:
    tracker = FaceTracker(Scripted(script), SETTINGS)
    return list(tracker.track(frames(n))), tracker


def covered(mask: np.ndarray, cx: float, cy: float) -> bool:
    return bool(mask[round(cy), round(cx)])


# --- where the detector looks ----------------------------------------------------------------


def test_720p_is_seen_whole_at_the_scale_of_a_20px_face_plus_a_coarse_pass() -> None:
    passes = plan_passes(1280, 720)
    fine = [p for p in passes if p.scale > 0.5]
    assert len(fine) == 1 and (fine[0].x1, fine[0].y1) == (1280, 720)
    assert fine[0].scale == pytest.approx(0.65)  # a 20 px face is 13 px to the network
    coarse = [p for p in passes if p.scale < 0.5]
    assert len(coarse) == 1 and coarse[0].scale == pytest.approx(320 / 1280)


def test_4k_is_cut_into_overlapping_tiles_covering_every_pixel() -> None:
    passes = plan_passes(3840, 2160, tile_side=1024)
    tiles = [p for p in passes if p.scale == pytest.approx(0.65)]
    assert len(tiles) >= 4
    seen = np.zeros((2160, 3840), np.uint8)
    for p in tiles:
        assert (p.x1 - p.x0) * p.scale <= 1024 * 1.2  # the network's input stays small
        seen[p.y0 : p.y1, p.x0 : p.x1] += 1
    assert seen.min() >= 1  # no blind strip
    assert (seen >= 2).any()  # tiles overlap, so a face on a seam is whole in one of them
    assert any(p.scale < 0.2 and (p.x1, p.y1) == (3840, 2160) for p in passes)


def test_decoding_puts_the_box_where_the_heatmap_peaks() -> None:
    heat = np.zeros((30, 40), np.float32)
    heat[10, 20] = 0.9
    sizes = np.zeros((2, 30, 40), np.float32)
    sizes[0, 10, 20] = np.log(48 / 4)  # height 48 px at the network's input
    sizes[1, 10, 20] = np.log(40 / 4)  # width 40
    offsets = np.zeros((2, 30, 40), np.float32)
    (box,) = decode_centerface(heat, sizes, offsets, 0.5, scale_x=0.5, scale_y=0.5)
    assert (box.cx, box.cy) == pytest.approx((82 * 2, 42 * 2))  # (20.5 * 4, 10.5 * 4) / 0.5
    assert (box.w, box.h) == pytest.approx((80, 96))
    assert decode_centerface(heat, sizes, offsets, 0.95) == []


def test_nms_keeps_one_box_per_face_even_from_two_tiles() -> None:
    a, inner, other = face(100, 100, 40, 0.9), face(102, 100, 24, 0.6), face(200, 100, 40, 0.5)
    assert nms([inner, a, other]) == [a, other]


# --- following -------------------------------------------------------------------------------


def test_a_face_missed_on_one_detection_is_bridged_and_reviewed() -> None:
    script = {0: [face(100, 100)], 4: [face(110, 100)], 12: [face(130, 100)]}  # 8: missed
    masks, tracker = run(script, 16)
    for i in range(13):
        x = 100 + 2.5 * i
        assert covered(masks[i], x, 100), f"frame {i}"
    reviewed = {f for r in tracker.review for f in range(r.start, r.end + 1)}
    assert {5, 8, 11} <= reviewed
    assert 2 not in reviewed  # detected on both sides one stride apart: sure


def test_a_face_that_is_gone_is_held_for_a_while_then_let_go() -> None:
    script = {0: [face(100, 100)], 4: [face(100, 100)]}
    masks, tracker = run(script, 40)
    assert all(covered(masks[i], 100, 100) for i in range(0, 4 + 12 + 1))  # hold: 3 strides
    assert not any(m.any() for m in masks[4 + 12 + 1 :])
    assert any(r.start <= 10 <= r.end and "lost" in r.reason for r in tracker.review)


def test_a_stream_left_running_does_not_overwrite_the_next_streams_review() -> None:
    # A worker whose stage timed out leaves that job's stream running in a thread while
    # the next job runs on the same tracker; the worker reads ``review`` when its own
    # stream ends. Job A has a weak detection to review at frame 4; job B (frames 100+) none.
    tracker = FaceTracker(Scripted({4: [face(60, 60, score=0.25)]}), SETTINGS)
    abandoned = tracker.track(frames(40))
    next(abandoned)  # begun...
    list(tracker.track(frames(40, first=100)))
    assert tracker.review == []
    list(abandoned)  # ... and ending after the next job's
    assert tracker.review == []


def test_a_face_first_seen_on_a_detection_is_covered_from_the_one_before() -> None:
    masks, _ = run({8: [face(200, 120)], 12: [face(200, 120)]}, 16)
    assert not masks[3].any()
    assert all(covered(masks[i], 200, 120) for i in range(4, 16))


def test_a_weak_lone_detection_is_not_hidden_but_reviewed() -> None:
    masks, tracker = run({4: [face(60, 60, score=0.25)]}, 12)
    assert not any(m.any() for m in masks)
    assert [(r.start, r.end) for r in tracker.review] == [(4, 4)]
    assert "possible face" in tracker.review[0].reason


def test_a_weak_detection_continues_a_face_already_followed() -> None:
    script = {0: [face(100, 100)], 4: [face(104, 100, score=0.22)], 8: [face(108, 100)]}
    masks, tracker = run(script, 12)
    assert all(covered(masks[i], 100 + i, 100) for i in range(9))
    assert tracker.review == []


def test_the_cover_is_a_padded_ellipse_around_the_box() -> None:
    masks, _ = run({0: [face(160, 120, 40)]}, 1)
    box = masks[0][100:140, 140:180]
    assert box.all()  # the whole detected box, corners included
    assert masks[0][120, 160 + 28] and masks[0][120 - 34, 160]  # padded beyond it
    assert not masks[0][120 - 40, 160 + 28]  # an ellipse, not a rectangle


def test_two_faces_crossing_stay_two() -> None:
    script = {k: [face(100 + 10 * k, 100), face(220 - 10 * k, 104)] for k in range(0, 13, 4)}
    masks, tracker = run(script, 13)
    for i in range(13):
        assert covered(masks[i], 100 + 10 * i, 100) and covered(masks[i], 220 - 10 * i, 104)
    assert tracker.review == []


def test_masks_stream_with_a_bounded_look_ahead() -> None:
    detector = Scripted({})
    tracker = FaceTracker(detector, SETTINGS)
    read = 0

    def counted() -> Iterator[Frame]:
        nonlocal read
        for f in frames(200):
            read += 1
            yield f

    for i, _ in enumerate(tracker.track(counted())):
        assert read - i <= (SETTINGS.hold + 2) * SETTINGS.stride + 1  # frames, not the video
    assert detector.calls == [*range(0, 200, 4), 199]  # the stride, and the last frame


def test_a_frame_of_another_size_is_refused() -> None:
    tracker = FaceTracker(Scripted({}), SETTINGS)
    stream = [np.zeros((H, W, 3), np.uint8), np.zeros((H, W + 2, 3), np.uint8)]
    with pytest.raises(TrackingError, match="frame 1 is 322x240"):
        list(tracker.track(stream))


# --- the real detector on real frames -------------------------------------------------------


def test_centerface_finds_the_labelled_faces_of_real_frames() -> None:
    detector = CenterFace(centerface_file())
    for clip in ("bedroom.mp4", "05_default_juggle.mp4"):
        labels = {int(k): v for k, v in LABELS["faces"][clip].items()}
        for i, frame in enumerate(iter_rgb_frames(VIDEOS / clip)):
            if i not in labels:
                continue
            found = detector.detect(frame, 0.3)
            for x0, y0, x1, y1 in labels[i]:
                hits = [b for b in found if x0 <= b.cx <= x1 and y0 <= b.cy <= y1]
                assert hits, f"{clip} frame {i}: no face found in {(x0, y0, x1, y1)}"


def test_a_missing_face_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match=r"centerface\.onnx is missing.*make install"):
        build_face_tracker(tmp_path)


def _juggler_frame() -> Frame:
    return next(iter(iter_rgb_frames(VIDEOS / "05_default_juggle.mp4")))


def test_small_faces_in_a_4k_frame_are_found_on_tiles() -> None:
    """36 jugglers, each face ~25 px across, over a 3840x2160 frame."""
    small = np.asarray(cv2.resize(_juggler_frame(), (640, 360), interpolation=cv2.INTER_AREA))
    frame = np.ascontiguousarray(np.tile(small, (6, 6, 1)))
    found = CenterFace(centerface_file()).detect(frame, 0.3)
    x0, y0, x1, y1 = LABELS["faces"]["05_default_juggle.mp4"]["0"][0]
    hits = 0
    for j in range(6):
        for i in range(6):
            cx, cy = i * 640 + (x0 + x1) / 4, j * 360 + (y0 + y1) / 4
            hits += any(abs(b.cx - cx) < 12 and abs(b.cy - cy) < 12 for b in found)
    assert hits >= 34, f"{hits} of 36 small faces found"


def test_a_face_close_to_the_camera_is_found() -> None:
    """The juggler's face filling most of a 1280x720 frame (~550 px tall)."""
    x0, y0, x1, y1 = LABELS["faces"]["05_default_juggle.mp4"]["0"][0]
    crop = _juggler_frame()[y0 - 40 : y1 + 40, x0 - 70 : x1 + 70]
    frame = np.ascontiguousarray(cv2.resize(crop, (1280, 720), interpolation=cv2.INTER_CUBIC))
    found = CenterFace(centerface_file()).detect(frame, 0.3)
    assert any(b.h > 300 and 400 < b.cx < 880 for b in found), found
