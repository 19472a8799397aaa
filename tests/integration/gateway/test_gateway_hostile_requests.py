"""Requests an attacker sends on purpose (issue 9): each is a 4xx naming the problem, never
a 500, and nothing is accepted by coercion ("150" or true for a pixel)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from gateway_harness import Served, create_job, running_gateway, upload
from pydantic import SecretStr

from tapmask_gateway.adapters import db
from tapmask_gateway.domain.tokens import job_token
from tapmask_gateway.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "extra",
    [
        {"click_x": "150"},
        {"click_y": True},
        {"frame": "3"},
        {"frame": 2.5},
        {"points": [{"x": "5", "y": 5}]},
        {"points": [{"x": 5, "y": 5, "positive": "yes"}]},
        {"points": [{"x": 5, "y": 5, "object_id": True}]},
    ],
    ids=[
        "x-string",
        "y-bool",
        "frame-string",
        "frame-float",
        "point-string",
        "positive-str",
        "object-bool",
    ],
)
async def test_click_coordinates_must_be_numbers(
    gateway: Served, clips: dict[str, Path], extra: dict[str, object]
) -> None:
    async with gateway.client() as client:
        key = await upload(client, clips["small"])
        got = await client.post(
            "/api/jobs",
            json={"upload_key": key, "click_x": 20, "click_y": 20, "processing_mode": "privacy"}
            | extra,
        )
        assert got.status_code == 400, got.text
        field = next(iter(extra))
        assert field in got.text
        # The upload is still there for a correct request.
        assert (await create_job(client, key)).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b'{"filename": "a\\udcff.mp4", "content_type": "video/mp4", "size": 10}',
        b'{"filename": "a\xff\xfe.mp4", "content_type": "video/mp4", "size": 10}',
        b'{"filename": "clip.mp4", "content_type": "video/mp4\\ud800", "size": 10}',
    ],
    ids=["lone-surrogate", "invalid-utf8", "surrogate-type"],
)
async def test_a_file_name_that_is_not_text_is_a_4xx(gateway: Served, body: bytes) -> None:
    async with gateway.client() as client:
        got = await client.post(
            "/api/upload/presigned", content=body, headers={"Content-Type": "application/json"}
        )
    assert 400 <= got.status_code < 500, got.text


async def test_a_last_event_id_that_is_not_text_is_not_a_500(gateway: Served) -> None:
    job = uuid4()
    token = job_token(gateway.settings.token_secret.get_secret_value(), job)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        got = await client.get(
            f"/api/jobs/{job}/events",
            params={"token": token},
            headers={"Last-Event-ID": b"\xff\xfe\x80", "X-Forwarded-For": "10.77.0.1"},
        )
    # The test gateway's notifier is not running: 503 says so; never a 500.
    assert got.status_code != 500, got.text
    assert got.status_code in (400, 503), got.text


async def test_metrics_cost_one_query_per_interval_and_can_require_a_token(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 9: /metrics is not rate limited and ran a GROUP BY over all jobs per scrape.
    asked = 0
    real = db.jobs_by_status

    async def counted(pool: Any) -> dict[str, int]:
        nonlocal asked
        asked += 1
        return await real(pool)

    monkeypatch.setattr(db, "jobs_by_status", counted)
    settings = make_settings(run_background=False, metrics_refresh_s=15.0)
    async with running_gateway(settings) as served:
        for _ in range(30):
            got = await served.scrape()
            assert got.status_code == 200 and "tapmask_gateway_jobs" in got.text
        # With no token set, no one but this host's own scraper: not through a proxy
        # (X-Forwarded-For: the ingress relaying anyone), not from another address.
        async with served.client() as relayed:
            through = await relayed.get("/metrics")
        assert through.status_code == 403
        assert "TAPMASK_METRICS_TOKEN" in through.text
        elsewhere = httpx.ASGITransport(app=served.app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=elsewhere, base_url="http://gw") as remote:
            assert (await remote.get("/metrics")).status_code == 403
    assert asked == 1

    locked = make_settings(run_background=False, metrics_token=SecretStr("s" * 40))
    async with running_gateway(locked) as served, served.client() as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await served.scrape()).status_code == 401  # the token, from anywhere
        wrong = await client.get("/metrics", headers={"Authorization": b"Bearer \xe9t\xe9"})
        assert wrong.status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {'s' * 40}"})
        assert ok.status_code == 200 and "tapmask_gateway_jobs" in ok.text
