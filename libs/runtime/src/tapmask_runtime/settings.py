"""Settings groups the services share, nested in each service's own ``BaseSettings``.

A service declares, for instance::

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="TAPMASK_", env_nested_delimiter="__")
        kafka: KafkaSettings = Field(default_factory=KafkaSettings)
        s3: S3Settings = Field(default_factory=S3Settings)

and reads ``TAPMASK_KAFKA__BOOTSTRAP_SERVERS``, ``TAPMASK_S3__ENDPOINT_URL`` and so on. Defaults
match the local stack (``make infra-up``); production sets the environment.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


def _empty_is_none(value: object) -> object:
    # An env var set to "" means "not set" (e.g. TAPMASK_S3__ENDPOINT_URL= for AWS itself).
    return None if value == "" else value


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated host:port list of brokers."""
    client_id: str = "tapmask"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """SASL_SSL for most managed Kafka (Confluent Cloud, MSK with SASL/SCRAM)."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    request_timeout_ms: int = Field(default=30_000, gt=0)
    max_poll_interval_ms: int = Field(default=30 * 60_000, gt=0)
    """Longest a handler may run before the group gives its partitions away. Tracking a long
    video on a CPU takes minutes, far above Kafka's 5-minute default."""

    topic_prefix: str = ""
    """Prepended to every TapMask topic name (``tapmask_schemas.topics``) by every service -
    gateway relay and projector, workers and their dead letters, notifier - so one cluster
    holds isolated deployments or test runs. Empty: the names as they are."""

    topic_partitions: int = Field(default=6, ge=1)
    """Partitions of the topics TapMask creates: the most consumers one group can spread over."""
    topic_replication_factor: int = Field(default=1, ge=1)
    """1 for a single local broker; 3 on a production cluster."""
    topic_retention_ms: int = Field(default=22 * 3_600_000, gt=0)
    """How long Kafka keeps an event on every TapMask topic, public, retry and dead-letter
    alike (``retention.ms``, set by each service on the topics it uses at start-up,
    tapmask_runtime.kafka.ensure_topics). 22 h: events hold a user's clicks
    (``job-created``, and the dead letters keep the original bytes), so with
    ``topic_segment_ms`` and the broker's 5-minute retention check an event is gone within
    23 h 05 min (``longest_event_life_ms``), inside the free tier's 24 h retention that the
    README promises. Kafka's own default, 7 days, kept them a week. A consumer that stays
    away longer than this misses events: the workers and the notifier read within seconds."""
    topic_segment_ms: int = Field(default=3_600_000, gt=0)
    """``segment.ms``: Kafka deletes whole segments, once the newest event in one is older
    than the retention, so an event can outlive ``topic_retention_ms`` by the time its
    segment stays open. Kafka's default rolls a segment weekly (1 GiB first), which kept a
    quiet topic's events for up to retention + 7 days; 1 h costs at most ~23 closed
    segments a partition."""

    @property
    def longest_event_life_ms(self) -> int:
        """The longest an event stays on a TapMask topic: it may sit in an open segment for
        ``topic_segment_ms``, then ``topic_retention_ms`` past the segment's newest event,
        then up to Kafka's retention check interval (``log.retention.check.interval.ms``,
        5 minutes by default) until the broker deletes it."""
        return self.topic_segment_ms + self.topic_retention_ms + 300_000

    def topic(self, name: str) -> str:
        """The name a base topic (e.g. ``topics.JOB_CREATED``) has on this cluster."""
        return self.topic_prefix + name

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")


class S3Settings(BaseModel):
    endpoint_url: str | None = "http://127.0.0.1:8333"
    """The S3 API the services talk to; empty/None means AWS S3 itself."""
    public_endpoint_url: str | None = None
    """The endpoint presigned URLs point at, i.e. the one a browser reaches (default:
    endpoint_url). Differs when services reach S3 by an internal name (docker compose, k8s)."""
    region: str = "us-east-1"
    access_key: str | None = None
    """None: boto3's default chain (env, instance profile, IRSA...)."""
    secret_key: SecretStr | None = None
    bucket: str = "tapmask"
    path_style: bool | None = None
    """Bucket in the path, not the host name. None: on for custom endpoints (SeaweedFS,
    MinIO), off for AWS."""

    _none_if_empty = field_validator(
        "endpoint_url", "public_endpoint_url", "access_key", mode="before"
    )(_empty_is_none)

    @property
    def addressing_style(self) -> Literal["path", "virtual"]:
        path = self.path_style if self.path_style is not None else self.endpoint_url is not None
        return "path" if path else "virtual"


class DatabaseSettings(BaseModel):
    url: str = "postgresql://tapmask:tapmask@127.0.0.1:5433/tapmask"
    """asyncpg DSN (postgresql://user:password@host:port/database?sslmode=...)."""
    min_connections: int = Field(default=1, ge=0)
    max_connections: int = Field(default=10, ge=1)


class MetricsSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int | None = None
    """Where a worker serves /metrics for Prometheus; None: not served (HTTP services
    expose /metrics on their own port instead)."""


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = True
    """One JSON object per line (for log shippers); False: plain text for a terminal."""


class VideoLimits(BaseModel):
    """What an uploaded video may be (``TAPMASK_LIMITS__*``), one definition for every stage.

    The gateway refuses uploads over these, and the tracker and renderer probe their copy
    again with the same caps before decoding: an upload checked at the gateway was once
    swapped for an 1800 s clip of the same size and the workers, probing with the media
    library's looser defaults (3 h, 1M frames), processed all of it (issue 9)."""

    max_upload_bytes: int = 500 * 1024**2
    max_duration_s: float = 600.0
    max_pixels: int = 4096 * 2160
    """Width x height of a frame; 4K DCI by default."""
    max_frames: int = 600 * 120
    max_streams: int = 8
    min_side: int = 16
    """Pixels of a frame's shorter side, at least."""
    max_fps: float = 480.0
    probe_timeout_s: float = 60.0
    probe_memory_bytes: int = 2 * 1024**3
    max_concurrent_probes: int = Field(default=4, ge=1)
    """Gateway: probes (each a download and a child process) running at once."""
    probe_queue_timeout_s: float = Field(default=5.0, ge=0)
    """Gateway: how long a job creation waits for a probe slot before answering 503."""
    max_objects: int = Field(default=8, ge=1)
    """Objects (distinct ``object_id`` with a positive click) one job may track: each costs
    the tracker its own segmentation on every keyframe."""

    def probe_fields(self) -> dict[str, Any]:
        """These caps as ``tapmask_media.probe.ProbeLimits(**...)`` takes them."""
        return {
            "max_file_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "max_streams": self.max_streams,
            "max_duration_s": self.max_duration_s,
            "max_frames": self.max_frames,
            "min_side": self.min_side,
            "max_fps": self.max_fps,
        }


#: Token secrets that were ever in this repository or its examples: anyone can forge job
#: tokens with them (a forged token read a job's status and download, issue 9).
KNOWN_PLACEHOLDER_SECRETS = frozenset({"dev-only-change-me", "change-me", "changeme", "..."})
#: 32 characters: 192 bits as URL-safe base64 (``secrets.token_urlsafe(24)``), 128 as hex.
MIN_TOKEN_SECRET_CHARS = 32


def token_secret_problem(secret: str) -> str | None:
    """Why ``secret`` must not sign job tokens (in plain words), or None when it may."""
    plain = secret.strip().lower()
    if plain in KNOWN_PLACEHOLDER_SECRETS or "change-me" in plain or "changeme" in plain:
        return "TAPMASK_TOKEN_SECRET is a placeholder published in the TapMask repository"
    if len(secret) < MIN_TOKEN_SECRET_CHARS:
        return (
            f"TAPMASK_TOKEN_SECRET has {len(secret)} characters; at least "
            f"{MIN_TOKEN_SECRET_CHARS} are needed"
        )
    return None


def require_token_secret(service: str, secret: str, dev_mode: bool) -> str | None:
    """Stop ``service`` at start-up on a placeholder or short token secret, unless
    ``dev_mode`` (``TAPMASK_DEV_MODE=1``) says this is a development machine: then the
    problem is returned, for a warning in the log."""
    problem = token_secret_problem(secret)
    if problem is None or dev_mode:
        return problem
    raise SystemExit(
        f"{service}: refusing to start: {problem}. Set it to a random value shared by the "
        'gateway and the notifier, e.g. TAPMASK_TOKEN_SECRET="$(openssl rand -hex 32)", or '
        "set TAPMASK_DEV_MODE=1 on a development machine."
    )


class WorkerSettings(BaseModel):
    """Consumer and retry knobs of a worker (env ``TAPMASK_WORKER__<NAME>``)."""

    group_id: str = Field(default="", description="Consumer group; empty: the service's.")
    max_attempts: int = Field(default=3, ge=1, description="Tries before dead-letter.")
    backoff_initial_s: float = Field(default=1.0, ge=0, description="First retry delay.")
    backoff_max_s: float = Field(default=30.0, ge=0, description="Longest retry delay.")
    shutdown_grace_s: float = Field(
        default=25.0, ge=0, description="SIGTERM: how long the current job may still run."
    )
    # max.poll.interval.ms comes from KafkaSettings: jobs run with partitions paused
    # while getone() keeps polling, so it only bounds a stuck event loop, not a job.
    # Short enough that a SIGKILLed worker's partitions move on quickly; the broker's
    # group.min.session.timeout.ms (6 s by default) is the floor.
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    progress_interval_s: float = Field(
        default=1.0, gt=0, description="At least one progress event this often."
    )
    progress_step_percent: float = Field(
        default=2.0, gt=0, description="A progress event as soon as percent moved this much."
    )
    stage_timeout_base_s: float = Field(
        default=300.0, gt=0, description="A stage's time budget: this, plus the next per second."
    )
    stage_timeout_per_video_s: float = Field(
        default=10.0,
        ge=0,
        description="Budget per second of video: 10 s is 0.1x real time, 2.2 times the "
        "slowest stage measured (the learned tracker: 0.22x real time, 720p, 2 cores).",
    )
    lag_interval_s: float = Field(default=10.0, gt=0, description="Consumer lag refresh.")

    def stage_budget_s(self, video_seconds: float) -> float:
        """How long one stage of a job on a ``video_seconds`` long video may run before it
        fails for good: without a ceiling a hostile or pathological job held a worker
        for as long as it liked (issue 9)."""
        return self.stage_timeout_base_s + self.stage_timeout_per_video_s * video_seconds
