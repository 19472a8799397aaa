"""Notifier configuration: ``TAPMASK_`` environment variables, built once in ``main()``.

TAPMASK_TOKEN_SECRET must equal the gateway's. Nested groups use ``__``:
TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_NOTIFIER__PORT, TAPMASK_NOTIFIER__HISTORY_S,
TAPMASK_LOG__LEVEL.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.settings import KafkaSettings, LogSettings


class StreamSettings(BaseModel):
    history_s: float = Field(default=3600.0, ge=0)
    """On start-up, replay this much recent Kafka history so current states are known."""
    ring_size: int = Field(default=32, ge=1)
    """Recent updates kept per job for Last-Event-ID resumes (~30 s of progress)."""
    queue_size: int = Field(default=32, ge=2)
    """Updates buffered per SSE client; a slower client skips the oldest."""
    max_jobs: int = Field(default=5_000, ge=1)
    """Jobs remembered at most (least recently active forgotten first): with the ring,
    bounds the notifier's memory to some tens of MB."""
    keepalive_s: float = Field(default=15.0, gt=0)
    """A comment line this often on a quiet stream, so proxies keep it open."""
    retry_ms: int = Field(default=3000, ge=0)
    """Reconnect delay suggested to EventSource clients."""
    host: str = "127.0.0.1"
    port: int = 8001
    per_client: int = Field(default=8, ge=1)
    """Streams one client (its address; IPv6 by /64) may hold open (429 past it)."""
    per_job: int = Field(default=8, ge=1)
    """Streams open on one job."""
    max_streams: int = Field(default=5000, ge=1)
    """Streams this notifier holds at once."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Peers whose X-Forwarded-For names the client (TAPMASK_NOTIFIER__TRUSTED_PROXIES):
    the gateway relaying a browser's stream, the ingress (e.g. the cluster's pod network).
    None by default: loopback was trusted, so any local process named itself a new client
    per stream and went past ``per_client`` (issue 18); unconfigured, a relaying gateway
    counts as one client here and its own per-client cap does the sharing."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAPMASK_", env_nested_delimiter="__", extra="ignore"
    )

    token_secret: SecretStr = SecretStr("dev-only-change-me")
    """Same secret as the gateway: job access tokens are HMACs of the job id. The service
    refuses to start on a placeholder or one under 32 characters unless ``dev_mode``."""
    dev_mode: bool = False
    """TAPMASK_DEV_MODE=1: a development machine, where a weak token secret only warns."""
    gateway_url: str | None = None
    """The gateway (TAPMASK_GATEWAY_URL), asked for the state of jobs older than the
    replayed history; None: such a job shows as pending until its next event."""
    kafka: KafkaSettings = Field(
        default_factory=lambda: KafkaSettings(client_id="tapmask-notifier")
    )
    notifier: StreamSettings = Field(default_factory=StreamSettings)
    log: LogSettings = Field(default_factory=LogSettings)
