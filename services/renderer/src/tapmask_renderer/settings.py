"""Renderer configuration: ``TAPMASK_`` environment variables, built once in ``main()``.

Nested groups use ``__``: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_S3__ENDPOINT_URL,
TAPMASK_WORKER__MAX_ATTEMPTS, TAPMASK_METRICS__PORT.
"""

from __future__ import annotations

from pydantic import Field

from tapmask_runtime.service import WorkerServiceSettings
from tapmask_runtime.settings import KafkaSettings, MetricsSettings


class Settings(WorkerServiceSettings):
    kafka: KafkaSettings = Field(
        default_factory=lambda: KafkaSettings(client_id="tapmask-renderer")
    )
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings(port=9102))
