"""Renderer configuration: ``TAPMASK_`` environment variables, built once in ``main()``.

Nested groups use ``__``: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_S3__ENDPOINT_URL,
TAPMASK_WORKER__MAX_ATTEMPTS, TAPMASK_METRICS__PORT.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.settings import (
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    S3Settings,
    VideoLimits,
    WorkerSettings,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAPMASK_", env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaSettings = Field(
        default_factory=lambda: KafkaSettings(client_id="tapmask-renderer")
    )
    s3: S3Settings = Field(default_factory=S3Settings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings(port=9102))
    """Prometheus /metrics (TAPMASK_METRICS__PORT; unset it with an empty value)."""
    log: LogSettings = Field(default_factory=LogSettings)
    limits: VideoLimits = Field(default_factory=VideoLimits)
    """The gateway's limits (TAPMASK_LIMITS__*, the same values): the input is probed
    with them again before any decoding."""
    work_dir: Path | None = None
    """Where inputs and the output are staged (None: the system temp dir)."""
