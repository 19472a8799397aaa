"""What `tapmask` tells a user about the tracker: which backend made the masks and which
frames to check by eye (where the tracker was unsure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_tapmask, write_disc_clip

import tapmask_processing.tracking
from tapmask_cli.main import main
from tapmask_media.masks import write_png_masks
from tapmask_processing.tracking.tracking import Frame, Mask, Prompt, ReviewSpan

FRAMES = 24
LOST = "object lost; mask held and widened"


class UnsureTracker:
    """A tracker that marks the middle of the clip (and one late frame) for review once
    its stream has ended, as the learned tracker does."""

    max_side: int | None = None
    name = "learned"

    def __init__(self) -> None:
        self.review: list[ReviewSpan] = []

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        self.review = []
        count = 0
        for frame in frames:
            mask = np.zeros(frame.shape[:2], bool)
            mask[10:30, 10:30] = True
            count += 1
            yield mask
        self.review = [ReviewSpan(7, 12, LOST), ReviewSpan(20, 20, "low confidence")]
        assert count == FRAMES


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "in.mp4"
    write_disc_clip(
        path, (64, 48), FRAMES, lambda i, xx, yy: (xx - 20 - i) ** 2 + (yy - 24) ** 2 < 64
    )
    return path


@pytest.fixture
def unsure(monkeypatch: pytest.MonkeyPatch) -> UnsureTracker:
    tracker = UnsureTracker()
    monkeypatch.setattr(tapmask_processing.tracking, "build_tracker", lambda **_: tracker)
    return tracker


EXPECTED_REVIEW = [
    {"start_frame": 7, "end_frame": 12, "reason": LOST},
    {"start_frame": 20, "end_frame": 20, "reason": "low confidence"},
]


def _done(stdout: str) -> dict[str, object]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert lines[-1]["event"] == "done"
    return dict(lines[-1])


def test_process_json_done_line_names_the_backend_and_the_frames_to_check(
    clip: Path, tmp_path: Path, unsure: UnsureTracker, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mp4"
    code = main(["process", str(clip), "-o", str(out), "--point", "20,20", "--json"])
    assert code == 0, capsys.readouterr().err
    done = _done(capsys.readouterr().out)
    assert done["frames"] == FRAMES
    assert done["tracker_backend"] == "learned"
    assert done["review"] == EXPECTED_REVIEW


def test_masks_json_done_line_names_the_backend_and_the_frames_to_check(
    clip: Path, tmp_path: Path, unsure: UnsureTracker, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["masks", str(clip), "--out", str(tmp_path / "m"), "--point", "20,20", "--json"])
    assert code == 0, capsys.readouterr().err
    done = _done(capsys.readouterr().out)
    assert (done["tracker_backend"], done["review"]) == ("learned", EXPECTED_REVIEW)


def test_plain_output_says_the_backend_and_which_frames_to_check(
    clip: Path, tmp_path: Path, unsure: UnsureTracker, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mp4"
    assert main(["process", str(clip), "-o", str(out), "--point", "20,20"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"wrote {out} ({FRAMES} frames; tracker: learned; check frames "
        "7-12: object lost, mask held and widened; 20: low confidence)"
    )


def test_review_past_the_last_frame_is_clipped_to_the_video(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Overreaching(UnsureTracker):
        def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
            yield from super().track(frames, prompts)
            self.review = [ReviewSpan(20, 99, LOST), ReviewSpan(500, 600, LOST)]

    tracker = Overreaching()
    monkeypatch.setattr(tapmask_processing.tracking, "build_tracker", lambda **_: tracker)
    assert main(["masks", str(clip), "--out", str(tmp_path / "m"), "--point", "9,9", "--json"]) == 0
    done = _done(capsys.readouterr().out)
    assert done["review"] == [{"start_frame": 20, "end_frame": FRAMES - 1, "reason": LOST}]


def test_given_masks_have_no_tracker_and_nothing_to_check(clip: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    write_png_masks(masks, (np.zeros((48, 64), bool) for _ in range(FRAMES)))
    out = tmp_path / "out.mp4"
    done = run_tapmask("process", clip, "-o", out, "--masks", masks, "--json")
    assert done.returncode == 0, done.stderr
    last = _done(done.stdout)
    assert (last["tracker_backend"], last["review"]) == ("masks", [])
    plain = run_tapmask("process", clip, "-o", out, "--masks", masks)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.strip() == f"wrote {out} ({FRAMES} frames; masks given)"


def test_the_real_cpu_tracker_is_named_in_json_and_plain_output(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    done = run_tapmask("process", clip, "-o", out, "--point", "20,24", "--json")
    assert done.returncode == 0, done.stderr
    last = _done(done.stdout)
    assert last["tracker_backend"] == "cpu"
    assert isinstance(last["review"], list)
    plain = run_tapmask("masks", clip, "--out", tmp_path / "m", "--point", "20,24")
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.strip().startswith(f"wrote {tmp_path / 'm'} ({FRAMES} frames; tracker: cpu")
