"""SAM 2 video predictor, streamed: frames are fed one at a time and forgotten.

The stock ``init_state`` loads the whole video into one tensor and keeps every frame's
output; here the inference state is built by hand and pruned after each frame, so that
only what the model can still attend to stays: the prompted (conditioning) frames, and
the last ``window`` frames' memories and object pointers (SAM 2 reads at most
``num_maskmem`` = 7 memories and ``max_obj_ptrs_in_encoder`` = 16 pointers back).
GPU and host memory are therefore flat in the video's length.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tapmask_processing.tracking.tracking import (
    Frame,
    Mask,
    Prompt,
    ReviewSpan,
    TrackingError,
    check_all_prompts_used,
    check_frame,
    check_prompt_in_frame,
    negatives_for,
    validate_prompts,
)

# Stands in for the unknown length of a stream (SAM 2 only uses it as an upper bound).
_UNKNOWN_LENGTH = 2**31 - 1
_IMG_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMG_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class Sam2Tracker:
    """Tracker on a ``sam2.sam2_video_predictor.SAM2VideoPredictor``."""

    def __init__(self, predictor: Any, device: str) -> None:
        self.predictor = predictor
        self.device = device
        # SAM 2 resizes frames to image_size squares itself; larger input buys nothing.
        self.max_side: int | None = int(predictor.image_size)
        self.name = "sam2"
        self.review: list[ReviewSpan] = []
        self.window = max(int(predictor.num_maskmem), int(predictor.max_obj_ptrs_in_encoder))
        #: Inference state of the latest stream (for inspection in tests).
        self.state: dict[str, Any] | None = None
        # A correction click on a tracked frame becomes a conditioning frame, instead of
        # being overwritten when that frame is tracked.
        predictor.add_all_frames_to_correct_as_cond = True

    @classmethod
    def build(
        cls,
        config: str,
        checkpoint: Path | None,
        device: str | None = None,
        hydra_overrides: Sequence[str] = (),
    ) -> Sam2Tracker:
        """Build the predictor from a SAM 2 config; load ``checkpoint`` when given
        (``None`` leaves random weights: only for tests)."""
        import torch
        from sam2.build_sam import build_sam2_video_predictor

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise TrackingError(f"SAM 2 checkpoint not found: {checkpoint}")
        predictor = build_sam2_video_predictor(
            config,
            ckpt_path=str(checkpoint) if checkpoint is not None else None,
            device=device,
            hydra_overrides_extra=list(hydra_overrides),
        )
        return cls(predictor, device)

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        validate_prompts(prompts)
        return self._run(iter(frames), list(prompts))

    # -- streaming ----------------------------------------------------------------------

    def _context(self) -> contextlib.ExitStack:
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.device.startswith("cuda"):
            # bf16 only on CUDA: on CPU it is slower and less accurate.
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    def _run(self, frames: Iterator[Frame], prompts: list[Prompt]) -> Iterator[Mask]:
        index = 0
        state: dict[str, Any] | None = None
        for frame in frames:
            check_frame(frame, index)
            if state is None:
                state = self._new_state(frame.shape[0], frame.shape[1])
                # Kept for inspection only; each stream works on its own state.
                self.state = state
                for p in prompts:
                    check_prompt_in_frame(p, frame.shape[1], frame.shape[0])
            elif (frame.shape[0], frame.shape[1]) != (
                state["video_height"],
                state["video_width"],
            ):
                raise TrackingError(f"frame {index} differs in size from the first frame")
            # The context is entered per frame, never across a yield, so that the
            # caller's code between frames does not run in inference mode.
            with self._context():
                mask = self._step(state, index, frame, prompts)
            yield mask
            index += 1
        check_all_prompts_used(prompts, index)

    def _new_state(self, height: int, width: int) -> dict[str, Any]:
        """What ``SAM2VideoPredictor.init_state`` builds, minus the preloaded video."""
        import torch

        device = torch.device(self.device)
        return {
            "images": {},  # frame index -> preprocessed tensor, only the current frame
            "num_frames": _UNKNOWN_LENGTH,
            "offload_video_to_cpu": False,
            "offload_state_to_cpu": False,
            "video_height": height,
            "video_width": width,
            "device": device,
            "storage_device": device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }

    def _preprocess(self, frame: Frame) -> Any:
        import torch

        size = int(self.predictor.image_size)
        resized = cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR)
        normalised = (resized.astype(np.float32) / 255.0 - _IMG_MEAN) / _IMG_STD
        return torch.from_numpy(normalised.transpose(2, 0, 1).copy()).to(self.device)

    def _step(self, state: dict[str, Any], t: int, frame: Frame, prompts: list[Prompt]) -> Mask:
        import torch

        predictor = self.predictor
        state["images"][t] = self._preprocess(frame)
        prompted = self._add_prompts(state, t, prompts)
        height, width = state["video_height"], state["video_width"]
        if not state["obj_ids"]:
            self._release(state, t)
            return np.zeros((height, width), dtype=bool)
        if prompted:
            predictor.propagate_in_video_preflight(state)
        # Mirrors the body of SAM2VideoPredictor.propagate_in_video for one frame.
        per_object = []
        for obj_idx in range(len(state["obj_ids"])):
            outputs = state["output_dict_per_obj"][obj_idx]
            if t in outputs["cond_frame_outputs"]:
                pred = outputs["cond_frame_outputs"][t]["pred_masks"].to(state["device"])
            else:
                current, pred = predictor._run_single_frame_inference(
                    inference_state=state,
                    output_dict=outputs,
                    frame_idx=t,
                    batch_size=1,
                    is_init_cond_frame=False,
                    point_inputs=None,
                    mask_inputs=None,
                    reverse=False,
                    run_mem_encoder=True,
                )
                outputs["non_cond_frame_outputs"][t] = current
            state["frames_tracked_per_obj"][obj_idx][t] = {"reverse": False}
            per_object.append(pred)
        _, video_res = predictor._get_orig_video_res_output(state, torch.cat(per_object))
        union = (video_res > 0.0).any(dim=0)[0]
        self._release(state, t)
        mask: Mask = union.cpu().numpy().astype(bool)
        return mask

    def _add_prompts(self, state: dict[str, Any], t: int, prompts: list[Prompt]) -> bool:
        here = [p for p in prompts if p.frame == t]
        starting = {p.object_id for p in here if p.positive}
        known = set(state["obj_id_to_idx"])
        added = False
        for object_id in sorted(starting | known):
            clicks = [p for p in here if p.positive and p.object_id == object_id]
            clicks += [p for p in negatives_for(prompts, object_id) if p.frame == t]
            # Negative clicks alone never create an object.
            if not clicks or (object_id not in known and object_id not in starting):
                continue
            if object_id in known:
                # Mark the frame as tracked, so SAM 2 takes these clicks as a correction
                # on top of the object's memory rather than a fresh start without it.
                idx = state["obj_id_to_idx"][object_id]
                state["frames_tracked_per_obj"][idx][t] = {"reverse": False}
            self.predictor.add_new_points_or_box(
                state,
                frame_idx=t,
                obj_id=object_id,
                points=np.array([[p.x, p.y] for p in clicks], dtype=np.float32),
                labels=np.array([1 if p.positive else 0 for p in clicks], dtype=np.int32),
                clear_old_points=True,
                normalize_coords=True,
            )
            added = True
        return added

    def _release(self, state: dict[str, Any], t: int) -> None:
        """Forget what SAM 2 will not read again: this frame's image and features, and
        memories older than the window. Conditioning (prompted) frames stay."""
        state["images"].pop(t, None)
        state["cached_features"] = {}
        oldest = t - self.window
        for outputs in state["output_dict_per_obj"].values():
            stale = [k for k in outputs["non_cond_frame_outputs"] if k <= oldest]
            for k in stale:
                del outputs["non_cond_frame_outputs"][k]
        for tracked in state["frames_tracked_per_obj"].values():
            tracked.clear()
