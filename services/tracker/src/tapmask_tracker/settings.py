"""Tracker configuration: ``TAPMASK_`` environment variables, built once in ``main()``.

Nested groups use ``__``: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_S3__ENDPOINT_URL,
TAPMASK_WORKER__MAX_ATTEMPTS, TAPMASK_TRACKER__BACKEND, TAPMASK_TRACKER__SAM2_CHECKPOINT_KEY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.settings import (
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    S3Settings,
    VideoLimits,
    WorkerSettings,
)


class TrackerOptions(BaseModel):
    backend: Literal["auto", "learned", "cpu", "sam2"] = "auto"
    """auto: SAM 2 when CUDA and a checkpoint are available, else the learned CPU tracker when
    its models are installed (TAPMASK_MODELS_DIR, see tapmask_tracker.models), else the
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAPMASK_", env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaSettings = Field(default_factory=lambda: KafkaSettings(client_id="tapmask-tracker"))
    s3: S3Settings = Field(default_factory=S3Settings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings(port=9101))
    """Prometheus /metrics (TAPMASK_METRICS__PORT; unset it with an empty value)."""
    log: LogSettings = Field(default_factory=LogSettings)
    limits: VideoLimits = Field(default_factory=VideoLimits)
    """The gateway's limits (TAPMASK_LIMITS__*, the same values): the input is probed
    with them again before any decoding."""
    tracker: TrackerOptions = Field(default_factory=TrackerOptions)
    work_dir: Path | None = None
    """Where inputs and masks are staged (None: the system temp dir)."""
