"""The SAM 2 backend's integration, on CPU with the tiny config and random weights.

No checkpoint can be downloaded here, so the masks' content is meaningless; what is
checked is the real code path: building from a SAM 2.1 config, prompting, streaming
propagation (one mask per frame, lazily read) and memory that stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from tapmask_processing.tracking import Prompt, TrackingError
from tapmask_processing.tracking.sam2_backend import Sam2Tracker

# Small enough for the CPU: 128 px input (8x8 top-level features) and a short memory,
# so that the window (max(num_maskmem, max_obj_ptrs_in_encoder) = 4) is passed quickly.
OVERRIDES = (
    "++model.image_size=128",
    "++model.memory_attention.layer.self_attention.feat_sizes=[8,8]",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[8,8]",
    "++model.num_maskmem=3",
    "++model.max_obj_ptrs_in_encoder=4",
)
# sam2 built without its CUDA extension (as here) says so once; that is expected.
pytestmark = pytest.mark.filterwarnings("ignore:cannot import name '_C':UserWarning")
FRAMES = 9
H, W = 72, 96


@pytest.fixture(scope="module")
def tracker() -> Sam2Tracker:
    import torch

    torch.manual_seed(0)
    return Sam2Tracker.build(
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        checkpoint=None,
        device="cpu",
        hydra_overrides=OVERRIDES,
    )


def _frames(n: int) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def test_streams_one_mask_per_frame_with_bounded_state(tracker: Sam2Tracker) -> None:
    assert tracker.window == 4
    assert tracker.max_side == 128
    pulled = 0

    def source() -> Iterator[npt.NDArray[np.uint8]]:
        nonlocal pulled
        for frame in _frames(FRAMES):
            pulled += 1
            yield frame

    prompts = [
        Prompt(30, 40),
        Prompt(20, 20, positive=False),
        Prompt(70, 30, frame=3, object_id=1),
        # Corrections on objects already tracked.
        Prompt(35, 45, frame=5, positive=False),
        Prompt(72, 32, frame=6, object_id=1),
    ]
    count = 0
    for t, mask in enumerate(tracker.track(source(), prompts)):
        count += 1
        assert pulled == t + 1, "frames must be read one at a time, as masks are taken"
        assert mask.shape == (H, W) and mask.dtype == np.bool_
        state = tracker.state
        assert state is not None
        # Object 1 joins on its prompt frame, not before.
        assert len(state["obj_ids"]) == (1 if t < 3 else 2)
        # Nothing of the video is kept but the window of memories (+ prompted frames).
        assert len(state["images"]) == 0
        assert state["cached_features"] == {}
        for outputs in state["output_dict_per_obj"].values():
            assert len(outputs["non_cond_frame_outputs"]) <= tracker.window
            # Prompted frames stay as conditioning memory; nothing else does.
            assert set(outputs["cond_frame_outputs"]) <= {0, 3, 5, 6}
    assert count == FRAMES


def test_prompt_errors_are_clear(tracker: Sam2Tracker) -> None:
    with pytest.raises(TrackingError, match="outside the 96x72 frame"):
        list(tracker.track(_frames(1), [Prompt(200, 10)]))
    with pytest.raises(TrackingError, match="only 2 frames"):
        list(tracker.track(_frames(2), [Prompt(10, 10), Prompt(10, 10, frame=5, object_id=1)]))
