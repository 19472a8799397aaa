"""The learned tracker's pieces that need no model: its settings, its state machine and
its appearance memory (the model-backed behaviour: test_learned_tracker.py, e2e)."""

from __future__ import annotations

import numpy as np
import pytest

from tapmask_processing.tracking.learned.memory import AppearanceMemory
from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.state import (
    REVIEW_DOUBT,
    REVIEW_HOLD,
    REVIEW_LEFT,
    REVIEW_UNSURE,
    Phase,
    TrackedObject,
)


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


def _object(mask: np.ndarray) -> TrackedObject:
    area = float(mask.sum())
    return TrackedObject(0, mask, AppearanceMemory(_unit(1, 0, 0)), area, area, 0)


def _square(x0: int, y0: int, side: int = 10, shape: tuple[int, int] = (60, 80)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0 : y0 + side, x0 : x0 + side] = True
    return m


@pytest.mark.parametrize(
    "bad",
    [
        {"keyframe_every": 0},
        {"area_range": (1.2, 1.6)},
        {"same_object": 1.5},
        {"max_step": 1.0},
        {"margin": 0.0},
        {"memory_size": -1},
    ],
)
def test_settings_refuse_values_that_cannot_work(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LearnedSettings(**bad)  # type: ignore[arg-type]


def test_lost_inside_the_frame_is_held_and_listed_lost_past_an_edge_is_not() -> None:
    inside = _object(_square(30, 20))
    inside.lose(5)
    assert inside.phase is Phase.LOST and inside.since == 5
    assert inside.held is not None and inside.held.sum() == 100
    assert not inside.mask.any()
    assert inside.review_reason() == REVIEW_HOLD

    gone = _object(_square(0, 20))  # touches the left edge: it walked out
    gone.last_seen = gone.mask
    gone.lose(5)
    assert gone.held is None and gone.left
    # Listed until it is found again (it may come back unseen), unless asked not to.
    assert gone.review_reason() == REVIEW_LEFT
    assert gone.review_reason(left=False) is None


def test_a_second_loss_keeps_the_first_frame_and_the_held_mask() -> None:
    obj = _object(_square(30, 20))
    obj.lose(5)
    obj.lose(9)  # a search failed
    assert obj.since == 5 and obj.held is not None and obj.held.sum() == 100
    assert obj.searches == 1


def test_a_doubtful_frame_is_listed_only_while_tracking() -> None:
    obj = _object(_square(30, 20))
    obj.doubtful = True
    assert obj.review_reason() == REVIEW_DOUBT
    assert obj.review_reason(doubt=False) is None


def test_unsure_is_listed_and_ends_when_a_keyframe_confirms_it() -> None:
    obj = _object(_square(30, 20))
    obj.doubt(7, look_again_in=15)
    assert obj.phase is Phase.UNSURE and obj.since == 7 and obj.last_key == -8
    assert obj.review_reason() == REVIEW_UNSURE
    obj.doubt(9, look_again_in=15)
    assert obj.since == 7  # still unsure since frame 7
    obj.take(_square(32, 20), 12, None)
    assert obj.phase is Phase.TRACKING and obj.review_reason() is None


def test_found_again_regrows_for_a_while_then_tracks() -> None:
    obj = _object(_square(30, 20))
    obj.lose(3)
    obj.take(_square(40, 20), 10, None, found=True)
    assert obj.phase is Phase.FOUND and obj.held is None and obj.regrowing(20, 45)
    obj.settle(40, 45)
    assert obj.phase is Phase.FOUND
    obj.settle(56, 45)
    assert obj.phase is Phase.TRACKING and not obj.regrowing(56, 45)


def test_decoys_are_never_listed() -> None:
    decoy = _object(_square(30, 20))
    decoy.decoy_of = 1
    decoy.lose(4)
    assert decoy.review_reason() is None


def test_memory_remembers_views_and_tells_a_lookalike_apart() -> None:
    memory = AppearanceMemory(_unit(1, 0, 0), size=2)
    turned = _unit(0.6, 0.8, 0)
    assert memory.similarity(turned) == pytest.approx(0.6)
    memory.remember(_unit(0.5, 0.9, 0))
    assert memory.similarity(turned) > 0.95  # a nearer view matches the turned object
    memory.remember(_unit(0, 0, 1))
    memory.remember(_unit(0, 1, 1))
    assert len(memory.recent) == 2  # bounded: the oldest view went, the clicked one stays
    assert memory.similarity(_unit(1, 0, 0)) == pytest.approx(1.0)

    other = _unit(0.8, 0, 0.6)  # 0.8 like the object
    assert memory.identity(other, margin=0.0) == pytest.approx(0.8)
    memory.remember_lookalike(_unit(0.7, 0, 0.71))
    assert memory.identity(other, margin=0.0) == -1.0  # more like the look-alike
    assert memory.identity(_unit(1, 0, 0), margin=0.0) == pytest.approx(1.0)


def test_memory_size_zero_keeps_only_the_click() -> None:
    memory = AppearanceMemory(_unit(1, 0, 0), size=0)
    memory.remember(_unit(0, 1, 0))
    assert not memory.recent


def _motion_scene(extra_moves_with_part: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A part (a shirt) and SAM's whole-level answer (the shirt plus what is below it),
    with a flow where the part moves 6 px right and the surroundings stay."""
    part = np.zeros((120, 160), bool)
    part[30:60, 60:90] = True
    whole = part.copy()
    whole[60:95, 60:90] = True
    flow = np.zeros((120, 160, 2), np.float32)
    flow[part] = (6.0, 0.0)
    if extra_moves_with_part:
        flow[whole & ~part] = (5.5, 0.3)
    return part, whole, flow


def test_what_moves_with_the_clicked_part_belongs_to_it() -> None:
    from tapmask_processing.tracking.sam_prompting import whole_by_motion

    assert whole_by_motion(*_motion_scene(extra_moves_with_part=True))
    # The legs stay with the floor: a spill onto the background, not the person.
    assert not whole_by_motion(*_motion_scene(extra_moves_with_part=False))


def test_motion_says_nothing_about_regions_too_small_to_measure() -> None:
    from tapmask_processing.tracking.sam_prompting import whole_by_motion

    part, _whole, flow = _motion_scene(extra_moves_with_part=True)
    tiny = part.copy()
    tiny[60:62, 60:63] = True  # adds 6 px
    assert not whole_by_motion(part, tiny, flow)
