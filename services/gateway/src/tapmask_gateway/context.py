"""Everything a request handler needs, built once by create_app and injected as `gw`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tapmask_gateway.adapters.probe import ProbeCache
from tapmask_gateway.domain.clients import Network, parse_networks
from tapmask_gateway.domain.quotas import RateLimiter
from tapmask_gateway.metrics import Metrics
from tapmask_gateway.settings import Settings
from tapmask_runtime.streams import StreamSlots

if TYPE_CHECKING:
    import asyncpg
    import httpx
    from faststream.kafka import KafkaBroker

    from tapmask_gateway.adapters.preview import ClickSegmenter, UploadFrames
    from tapmask_gateway.adapters.s3 import GatewayS3
    from tapmask_gateway.domain.records import ApiKey


class Gateway:
    """A plain class on purpose: Litestar's msgspec signature models introspect dataclasses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.proxies: tuple[Network, ...] = parse_networks(settings.trusted_proxies)
        self.limiter = RateLimiter()
        self.relay_wake = asyncio.Event()
        # Bounds the disk and memory that concurrent job creations can take.
        self.probe_slots = asyncio.Semaphore(settings.limits.max_concurrent_probes)
        self.probed = ProbeCache()
        self.metrics_refreshed_at = float("-inf")
        streams = settings.event_streams
        self.streams = StreamSlots(streams.per_client, streams.per_job, streams.total)
        # Set in the app's lifespan:
        self.pool: asyncpg.Pool | None = None
        self.store: GatewayS3 | None = None
        self.broker: KafkaBroker | None = None
        self.http: httpx.AsyncClient | None = None
        self.lifecycle = "not tried"
        self.projector: Any = None  # the FastStream subscriber, for its consumer lag
        self.frames: UploadFrames | None = None  # frames of uploads, for clicking on
        self.segmenter: ClickSegmenter | None = None  # the mask preview (SAM, loaded lazily)
        # API key hash -> (key or None, when looked up): spares a query per request.
        self.key_cache: dict[str, tuple[ApiKey | None, float]] = {}

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "database pool not started"
        return self.pool

    @property
    def s3(self) -> GatewayS3:
        assert self.store is not None, "object store not started"
        return self.store
