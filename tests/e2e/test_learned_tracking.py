"""The learned tracker on the shared real clips, judged at points a person checked.

Every point below was read off the frame itself (a grid drawn over it, looked at): a
point *on* the object must be hidden, a point *off* it (the other child, the woman, the
pavement) must not be. The weight-free tracker fails these: from a click on the dog's
flank it covers the rear half and not the head, it takes the trousers for the juggler,
and it leaves a mask at the right edge after the dog ran out of the frame.

The models come from `make install` (`make test` runs it); missing models fail here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import frames_rgb, run_tapmask

from tapmask_processing.track import iter_video_masks
from tapmask_processing.tracking import build_tracker
from tapmask_processing.tracking.tracking import Prompt, ReviewSpan

# One tracker run per clip (30-90 s on 2 cores) is paid in the first test that needs it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

Point = tuple[int, int]


class Tracked:
    """One learned-tracker run over a clip; masks kept at the frames asked for."""

    def __init__(self, video: Path, prompts: Sequence[Prompt], keep: set[int]) -> None:
        tracker = build_tracker("learned")
        assert tracker.name == "learned"
        self.masks: dict[int, np.ndarray] = {}
        self.count = 0
        for index, mask in enumerate(iter_video_masks(video, tracker, prompts)):
            if index in keep:
                self.masks[index] = mask.copy()
            self.count += 1
        self.review: list[ReviewSpan] = list(tracker.review)

    def hidden(self, frame: int, point: Point) -> bool:
        x, y = point
        return bool(self.masks[frame][y, x])


def _check(run: Tracked, frame: int, on: Sequence[Point], off: Sequence[Point]) -> None:
    missed = [p for p in on if not run.hidden(frame, p)]
    leaked = [p for p in off if run.hidden(frame, p)]
    assert not missed, f"frame {frame}: points on the object left visible: {missed}"
    assert not leaked, f"frame {frame}: points off the object hidden: {leaked}"


# --- 01_dog.mp4: one click on the dog's flank --------------------------------------------

DOG_ON = {
    0: [(485, 415), (600, 427), (680, 420), (545, 500)],  # head, flank, rear, front leg
    # Sprinting off, blurred: head, chest, muzzle (flow trailed its mask behind it and
    # left the chest uncovered until the keyframe's shape rode on NanoTrack's box).
    63: [(1235, 430), (1215, 480), (1250, 455)],
    # Sprinting off through the right edge, motion-blurred: SAM's answers there look
    # unlike the dog (the tracker once dropped it here, uncovered for 10 frames).
    66: [(1180, 420), (1240, 440), (1200, 490)],
    70: [(1250, 430), (1245, 480)],
    # Running back in: head (with the toy) and body.
    110: [(1120, 440), (1200, 430)],
    # The white face (475, 420) had melted out of the flow-carried mask by frame 144.
    144: [(475, 420), (490, 425), (600, 420), (690, 430)],
    216: [(830, 450), (880, 430), (940, 470)],
}
DOG_OFF = {
    0: [(330, 450), (800, 450), (550, 300)],  # woman's jeans, pavement, planter
    63: [(900, 450), (330, 450)],  # pavement, woman's jeans
    # Frames 66 and 70 are on the review list, their mask widened to NanoTrack's box:
    # pavement farther off stays visible.
    66: [(700, 450), (330, 450)],  # pavement, woman's jeans
    70: [(750, 450), (330, 450)],
    110: [(900, 450), (330, 450)],
    144: [(340, 380), (850, 420), (300, 250)],  # woman's arm, pavement, planter
    216: [(600, 450), (1050, 380), (330, 330)],  # pavement, pavement, woman
}
DOG_GONE = range(80, 101)  # the dog has run out at the right edge


@pytest.fixture(scope="module")
def dog(testdata: Path) -> Tracked:
    return Tracked(
        testdata / "videos" / "01_dog.mp4", [Prompt(600, 427)], {*DOG_ON, *DOG_GONE}
    )


@pytest.mark.parametrize("frame", sorted(DOG_ON))
def test_one_click_on_the_dog_hides_the_whole_dog_head_included(dog: Tracked, frame: int) -> None:
    _check(dog, frame, DOG_ON[frame], DOG_OFF[frame])


def test_the_dog_sprinting_off_blurred_is_listed_for_review(dog: Tracked) -> None:
    # SAM could not confirm the motion-blurred dog at frames 66-70 (it was covered by
    # NanoTrack's box instead): a person should look at those frames.
    listed = {f for r in dog.review for f in range(r.start, r.end + 1)}
    assert {66, 70} <= listed, dog.review


def test_nothing_is_masked_after_the_dog_left_the_frame(dog: Tracked) -> None:
    painted = [f for f in DOG_GONE if dog.masks[f].any()]
    assert not painted, f"mask where the dog is absent, frames {painted}"
    assert dog.count == 289


# --- bedroom.mp4: one click on the girl; the boy jumps beside and behind her -------------

GIRL = {
    0: [(400, 160), (390, 250)],
    60: [(350, 60), (323, 145), (310, 250)],
    150: [(385, 79), (385, 211), (379, 303)],
    170: [(422, 277), (435, 356)],
    199: [(392, 198), (385, 277)],
}
BOY = {
    0: [(250, 300), (230, 230)],
    150: [(42, 330), (95, 317)],
    170: [(105, 251), (125, 132), (119, 383)],
    199: [(154, 106), (161, 237), (227, 158)],
}


@pytest.fixture(scope="module")
def bedroom(testdata: Path) -> Tracked:
    return Tracked(testdata / "videos" / "bedroom.mp4", [Prompt(400, 160)], set(GIRL))


@pytest.mark.parametrize("frame", sorted(GIRL))
def test_the_clicked_child_stays_hidden_and_the_other_untouched(
    bedroom: Tracked, frame: int
) -> None:
    _check(bedroom, frame, GIRL[frame], BOY.get(frame, []))


# --- 05_default_juggle.mp4: one click on the shirt ----------------------------------------

PERSON_ON = {
    0: [(700, 90), (705, 250), (700, 450), (670, 550), (665, 630), (760, 640)],
    120: [(750, 90), (760, 280), (720, 470), (665, 655), (735, 655)],
}
PERSON_OFF = {
    0: [(350, 550), (1050, 500), (1000, 300)],
    120: [(300, 550), (1100, 550)],
}


@pytest.fixture(scope="module")
def juggle(testdata: Path) -> Tracked:
    return Tracked(
        testdata / "videos" / "05_default_juggle.mp4", [Prompt(705, 250)], set(PERSON_ON)
    )


@pytest.mark.parametrize("frame", sorted(PERSON_ON))
def test_a_click_on_the_shirt_hides_the_whole_person(juggle: Tracked, frame: int) -> None:
    _check(juggle, frame, PERSON_ON[frame], PERSON_OFF[frame])


# --- the command line, erasing the dog ----------------------------------------------------


def test_cli_erases_the_dog_with_the_learned_tracker_and_says_so(
    testdata: Path, tmp_path: Path
) -> None:
    video = testdata / "videos" / "01_dog.mp4"
    out = tmp_path / "erased.mp4"
    result = run_tapmask(
        "process", video, "-o", out, "--point", "600,427", "--mode", "erase",
        "--backend", "learned", "--json", timeout=900,
    )
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.strip().splitlines()[-1])
    assert done["tracker_backend"] == "learned"
    frames_in = dict(frames_rgb(video, step=1))
    frames_out = dict(frames_rgb(out, step=1))
    # Frame 216: where the dog stands, the output is much nearer the pavement that frame
    # 90 (dog away, static camera) shows there than the input is. Not all of it: the
    # dog's legs and the ball it carries are thinner than the working-size mask keeps,
    # and remnants of them stay (said in the README).
    y0, y1, x0, x1 = 420, 470, 840, 930
    before, after = frames_in[216][y0:y1, x0:x1], frames_out[216][y0:y1, x0:x1]
    clean = frames_in[90][y0:y1, x0:x1]
    to_clean = float(np.abs(after.astype(int) - clean.astype(int)).mean())
    dog_there = float(np.abs(before.astype(int) - clean.astype(int)).mean())
    assert to_clean < 0.5 * dog_there, (
        f"erased region is {to_clean:.1f} from the clean pavement (the dog: {dog_there:.1f})"
    )
    # Frames 80-100: the dog is gone, nothing may be painted at the right edge.
    for f in DOG_GONE:
        edge_in, edge_out = frames_in[f][:, 1000:], frames_out[f][:, 1000:]
        diff = float(np.abs(edge_in.astype(int) - edge_out.astype(int)).mean())
        assert diff < 4, f"frame {f}: the right edge was changed (mean difference {diff:.1f})"
