"""The gateway served by uvicorn on a free port, against the real Kafka, PostgreSQL and S3
of tests/conftest.py (`kafka_bootstrap`, `postgres_dsn`, `s3`).

Each test session gets its own PostgreSQL schema (through search_path), so quotas and
jobs of earlier runs never leak in. Each test talks as its own client address (through
X-Forwarded-For from the trusted loopback proxy), so quotas and rate limits of one test
never touch another.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import (
    TOPIC_PREFIX,
    Served,
    create_topics,
    free_port,
    new_schema,
    running_gateway,
    write_clip,
)
from pydantic import SecretStr

from tapmask_gateway.settings import Settings
from tapmask_runtime.settings import DatabaseSettings, KafkaSettings, S3Settings


@pytest.fixture(scope="session")
async def gateway_schema(postgres_dsn: str) -> str:
    """The schema the session's gateways share (the database itself is per session)."""
    return await new_schema(postgres_dsn)


@pytest.fixture(scope="session")
async def gateway_topics(kafka_bootstrap: str) -> str:
    await create_topics(kafka_bootstrap)
    return TOPIC_PREFIX


@pytest.fixture(scope="session")
def make_settings(
    kafka_bootstrap: str,
    gateway_topics: str,
    gateway_schema: str,
    s3: S3Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Settings]:
    secret = secrets.token_urlsafe(16)
    no_web = tmp_path_factory.mktemp("no-web")

    def build(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "kafka": KafkaSettings(
                bootstrap_servers=kafka_bootstrap, client_id="gw-test", topic_prefix=gateway_topics
            ),
            "database": DatabaseSettings(url=gateway_schema),
            "s3": s3.model_copy(),
            "token_secret": SecretStr(secret),
            "trusted_proxies": ["127.0.0.1"],
            "projector_group_id": f"gw-test-{uuid.uuid4().hex[:8]}",
            "notifier_url": f"http://127.0.0.1:{free_port()}",
            "web_dist": no_web,
            "relay_interval_s": 0.2,
            "cleanup_interval_s": 3600.0,
            # Each scrape sees the database as it is now (tests read gauges right after
            # changing things); test_gateway_hostile_requests checks the default caching.
            "metrics_refresh_s": 0.0,
        }
        base.update(overrides)
        return Settings(**base)

    return build


@pytest.fixture(scope="session")
async def gateway(make_settings: Callable[..., Settings]) -> AsyncIterator[Served]:
    """The gateway as deployed: relay, projector and cleanup running."""
    async with running_gateway(make_settings()) as served:
        yield served


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    small = write_clip(folder / "small.mp4")
    long = write_clip(folder / "long.mp4", frames=40)  # 4 s
    data = small.read_bytes()
    truncated = folder / "truncated.mp4"
    # Keep the header and part of the data: the file announces frames it doesn't hold.
    truncated.write_bytes(data[: len(data) * 2 // 3])
    text = folder / "notes.mp4"
    text.write_text("These are my holiday notes, not a video.\n" * 20)
    return {"small": small, "long": long, "truncated": truncated, "text": text}
