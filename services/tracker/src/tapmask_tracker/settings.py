"""Tracker configuration: ``TAPMASK_`` environment variables, built once in ``main()``.

Nested groups use ``__``: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_S3__ENDPOINT_URL,
TAPMASK_WORKER__MAX_ATTEMPTS, TAPMASK_TRACKER__BACKEND, TAPMASK_TRACKER__SAM2_CHECKPOINT_KEY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from tapmask_processing.tracking.sam_onnx import DEFAULT_RUNTIME, EncoderRuntime
from tapmask_runtime.service import WorkerServiceSettings
from tapmask_runtime.settings import KafkaSettings, MetricsSettings


class TrackerOptions(BaseModel):
    backend: Literal["auto", "learned", "cpu", "sam2"] = "auto"
    """auto: SAM 2 when CUDA and a checkpoint are available, else the learned CPU tracker when
    its models are installed (TAPMASK_MODELS_DIR, see tapmask_processing.models), else the
    weight-free cpu tracker. The job status says which ran."""
    sam2_checkpoint: Path | None = None
    """Local SAM 2 checkpoint file (used as the download target when a key is given)."""
    sam2_checkpoint_key: str | None = None
    """S3 key of the checkpoint in ``models_bucket``, downloaded once at start-up."""
    models_bucket: str = "tapmask-models"
    sam2_config: str | None = None
    """SAM 2 model config name (None: the tracking core's default, hiera tiny)."""
    device: str | None = None
    """torch device for SAM 2 (None: cuda when available)."""
    sam_encoder: EncoderRuntime = DEFAULT_RUNTIME
    """The learned tracker's SAM encoder runtime: OpenVINO in bfloat16 halves the encoder's
    time on CPUs with AVX512_BF16/AMX (auto picks it there), at a cost in identity on
    look-alikes (README, tapmask_processing.tracking.sam_onnx)."""

    max_hold_s: float = Field(default=300.0, ge=0)
    """How long in all the owner may hold a job (paused, or waiting to accept the outline):
    a held job keeps its worker from others' jobs. Past it, and past half the stage's
    budget, the tracker goes on by itself (tapmask_tracker.live)."""


class Settings(WorkerServiceSettings):
    kafka: KafkaSettings = Field(default_factory=lambda: KafkaSettings(client_id="tapmask-tracker"))
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings(port=9101))
    tracker: TrackerOptions = Field(default_factory=TrackerOptions)
