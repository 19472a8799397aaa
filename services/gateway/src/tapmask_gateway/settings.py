"""Gateway configuration: environment variables with the TAPMASK_ prefix, built once in main().

Nested groups use `__`: TAPMASK_KAFKA__BOOTSTRAP_SERVERS, TAPMASK_S3__ENDPOINT_URL,
TAPMASK_DATABASE__URL, TAPMASK_LIMITS__MAX_DURATION_S, TAPMASK_QUOTAS__FREE_VIDEOS_PER_MONTH.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_gateway.domain.quotas import Tier
from tapmask_runtime.settings import (
    DatabaseSettings,
    KafkaSettings,
    LogSettings,
    S3Settings,
)
from tapmask_runtime.settings import VideoLimits as VideoLimits  # one definition, all stages

# Where a source checkout keeps the web build; an installed wheel simply won't find it.
DEV_SECRET = "dev-only-change-me"
_REPO_WEB_DIST = Path(__file__).resolve().parents[4] / "web" / "dist"


@dataclass(frozen=True)
class TierQuotas:
    """One tier's limits: its ``free_*`` or ``pro_*`` settings (``Quotas.of``)."""

    videos_per_month: int
    requests_per_minute: int
    burst: int
    probes_per_minute: int
    probe_burst: int
    unused_uploads_per_hour: int
    retention_hours: float


class Quotas(BaseModel):
    free_videos_per_month: int = 10
    """Jobs a client IP may create per calendar month (UTC) without an API key."""
    pro_videos_per_month: int = 1000
    """Default for API keys that don't set their own monthly quota."""
    free_requests_per_minute: int = 120
    free_burst: int = 60
    pro_requests_per_minute: int = 1200
    pro_burst: int = 300
    free_probes_per_minute: int = 4
    """Uploads a client may have probed (downloaded and checked) a minute, refused or not;
    a probe's answer is cached, so only new bytes count."""
    free_probe_burst: int = 10
    pro_probes_per_minute: int = 60
    pro_probe_burst: int = 100
    free_unused_uploads_per_hour: int = 20
    """Presigned uploads a client may hold without a job, in any hour (40 presigns of
    500 MB each, and no job, were free, issue 9)."""
    pro_unused_uploads_per_hour: int = 500
    free_retention_hours: float = 24.0
    pro_retention_hours: float = 24.0 * 7

    def of(self, tier: Tier) -> TierQuotas:
        """The limits of ``tier`` (one place picks between the free and the pro settings)."""
        prefix = "pro_" if tier is Tier.PRO else "free_"
        return TierQuotas(**{f.name: getattr(self, prefix + f.name) for f in fields(TierQuotas)})


class PreviewSettings(BaseModel):
    """The frames and mask preview the web app shows before a job (``adapters/preview.py``)."""

    cache_dir: Path | None = None
    """Where local copies of uploads go while people click on them (default: the temp dir)."""
    cache_bytes: int = 4 * 1024**3
    """Local copies kept at most (least recently used go first)."""
    embeddings: int = Field(default=16, ge=1)
    """Frames whose SAM features are kept (4 MiB each): later clicks there skip the encoder."""
    frame_max_side: int = Field(default=1280, ge=64)
    """Longer side of served frames and preview masks (SAM itself looks at 1024)."""
    models_dir: Path | None = None
    """The learned models' folder; default as the tracker's (``TAPMASK_MODELS_DIR``)."""
    threads: int | None = None
    """onnxruntime threads of one preview run (default: all cores)."""
    workers: int = Field(default=1, ge=1)
    """Worker processes that run the segmenter (``adapters/preview_pool.py``), each with its
    own features cache. One on 2 cores: a run already uses every core (``threads``)."""
    per_client: int = Field(default=2, ge=1)
    """Previews one client (IP or API key) may have in flight, running and waiting; a newer
    click replaces the one still waiting (the stale one is never run)."""
    per_client_per_minute: int = Field(default=60, ge=1)
    """Previews a client may ask for a minute (each ~1.3 CPU-s), in bursts of
    ``per_client_burst``: a person aims between clicks, and one address may be several
    people (an office, a test run's browser); beyond it, 429 with Retry-After. Fairness
    between clients is the queue's (least recently served first), not this rate's."""
    per_client_burst: int = Field(default=20, ge=1)
    queue: int = Field(default=4, ge=0)
    """Clicks waiting for a worker, all clients together; beyond it, 503 with Retry-After
    (unless the newcomer was served less recently than a waiting click's client)."""
    max_wait_s: float = Field(default=1.0, gt=0)
    """How long a click waits for a worker before it is refused (503): with a run of ~0.3-1
    s, whoever clicks hears within about 2 s, busy or not."""
    answer_within_s: float = Field(default=2.0, gt=0)
    """While other clicks run or wait, a click is answered or refused (503) within this
    long; alone it runs to its end (a cold click is 0.6-2 s on 2 idle cores)."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """CPU priority the workers give up, so the gateway's own requests (a few ms of CPU
    each) win the cores over a preview (a second)."""
    worker_memory_bytes: int = Field(default=3 * 1024**3, ge=0)
    """Address space of a worker (decoder, SAM, features cache); 0: no limit. Past it the
    click is refused and the worker replaced; the gateway itself is untouched."""


class EventStreamLimits(BaseModel):
    """Progress streams (SSE, relayed to the notifier): see ``tapmask_runtime.streams``."""

    per_client: int = Field(default=8, ge=1)
    """Streams one client (IP or API key) may hold open: a page shows one, a few tabs more."""
    per_job: int = Field(default=8, ge=1)
    """Streams open on one job (whoever holds its token)."""
    total: int = Field(default=1000, ge=1)
    """Streams one gateway replica relays at once; also its upstream connection pool's size,
    so a stream admitted here never waits for a connection."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """Connecting to the notifier; past it the stream answers 503 at once."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAPMASK_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    token_secret: SecretStr = SecretStr(DEV_SECRET)
    """HMAC key of job access tokens; the notifier must share it. The service refuses to
    start on a placeholder or one under 32 characters unless ``dev_mode``."""
    dev_mode: bool = False
    """TAPMASK_DEV_MODE=1: a development machine, where a weak token secret only warns."""
    kafka: KafkaSettings = Field(default_factory=lambda: KafkaSettings(client_id="tapmask-gateway"))
    projector_group_id: str = "tapmask-gateway-projector"
    """Consumer group of the job-state projector (one group shared by all gateway replicas)."""
    s3: S3Settings = Field(default_factory=S3Settings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    limits: VideoLimits = Field(default_factory=VideoLimits)
    preview: PreviewSettings = Field(default_factory=PreviewSettings)
    quotas: Quotas = Field(default_factory=Quotas)
    trusted_proxies: list[str] = Field(default_factory=list)
    """Peers whose X-Forwarded-For is believed (IPs or CIDRs, e.g. the ingress)."""
    upload_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to upload to / download from the bucket directly (its CORS
    rule, set at start-up), e.g. ["https://tapmask.example"]. Empty: leave the bucket's CORS
    alone (SeaweedFS allows every origin by default; AWS S3 needs a rule)."""
    notifier_url: str = "http://127.0.0.1:8001"
    """Where /api/jobs/{id}/events is forwarded to (the notifier's SSE)."""
    metrics_refresh_s: float = Field(default=15.0, ge=0)
    """The database-backed gauges of /metrics (jobs by status, outbox) are refreshed at
    most this often, however often /metrics is scraped."""
    metrics_token: SecretStr | None = None
    """When set, /metrics answers only ``Authorization: Bearer <token>`` (else 401)."""
    event_streams: EventStreamLimits = Field(default_factory=EventStreamLimits)
    """TAPMASK_EVENT_STREAMS__PER_CLIENT etc."""
    upload_expiry_s: int = Field(default=900, ge=60, le=900)
    """Lifetime of a presigned upload: at most 15 minutes."""
    download_expiry_s: int = Field(default=3600, ge=60, le=3600)
    web_dist: Path = _REPO_WEB_DIST
    """The web frontend's build, served at / when it exists."""
    run_background: bool = True
    """Run the outbox relay, event projector and cleanup in this process."""
    relay_interval_s: float = 0.5
    cleanup_interval_s: float = 300.0
    log: LogSettings = Field(default_factory=LogSettings)
