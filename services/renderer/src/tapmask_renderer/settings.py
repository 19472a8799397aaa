"""Renderer configuration: ``TAPMASK_`` environment variables, built once in ``main()``.

Nested groups use ``__``: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_S3__ENDPOINT_URL,
TAPMASK_WORKER__MAX_ATTEMPTS, TAPMASK_WORKER__METRICS_PORT.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.worker import KafkaConnection, S3Connection, WorkerSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAPMASK_", env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaConnection = Field(
        default_factory=lambda: KafkaConnection(client_id="tapmask-renderer")
    )
    s3: S3Connection = Field(default_factory=S3Connection)
    worker: WorkerSettings = Field(default_factory=lambda: WorkerSettings(metrics_port=9102))
    work_dir: Path | None = None
    """Where inputs and the output are staged (None: the system temp dir)."""
    log_level: str = "INFO"
