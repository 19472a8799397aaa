"""One frame as the learned tracker's steps see it: working size, and SAM features on
demand (a frame is a keyframe when some object needs SAM there, and then encoded once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tapmask_processing.tracking.motion import Gray
from tapmask_processing.tracking.sam_onnx import Embedding, FloatArray, SamOnnx
from tapmask_processing.tracking.sam_prompting import resize_mask
from tapmask_processing.tracking.tracking import Frame, Mask


@dataclass
class FrameView:
    index: int
    frame: Frame
    #: Working pixels per frame pixel (``LearnedSettings.work_side``).
    scale: float
    small: Frame
    gray: Gray
    #: Working-size BGR, for NanoTrack.
    bgr: Any
    _sam: SamOnnx
    _features: tuple[Embedding, FloatArray] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, sam: SamOnnx, frame: Frame, index: int, work_side: int) -> FrameView:
        h, w = frame.shape[:2]
        scale = min(1.0, work_side / max(w, h))
        small: Frame = (
            np.asarray(cv2.resize(frame, (round(w * scale), round(h * scale)),
                                  interpolation=cv2.INTER_AREA), np.uint8)
            if scale < 1.0 else frame
        )
        gray: Gray = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), np.uint8)
        return cls(index, frame, scale, small, gray, cv2.cvtColor(small, cv2.COLOR_RGB2BGR), sam)

    @property
    def shape(self) -> tuple[int, int]:
        """The working size (height, width)."""
        return int(self.small.shape[0]), int(self.small.shape[1])

    @property
    def encoded(self) -> bool:
        return self._features is not None

    def features(self) -> tuple[Embedding, FloatArray]:
        """SAM's embedding of the full frame and its centred unit grid (computed once)."""
        if self._features is None:
            emb = self._sam.embed(self.frame)
            self._features = (emb, emb.grid())
        return self._features

    def to_frame(self, point: tuple[float, float]) -> tuple[float, float]:
        """A working-size point in frame pixels (what SAM is prompted in)."""
        return point[0] / self.scale, point[1] / self.scale

    def to_work(self, mask: Mask) -> Mask:
        """A frame-size mask (SAM's answer) at the working size."""
        return resize_mask(mask, self.shape)
