"""The notifier's probes and HTTP metrics as Kubernetes and Prometheus use them."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from faststream.kafka import KafkaBroker, TestKafkaBroker

from tapmask_notifier.app import create_app
from tapmask_notifier.settings import Settings

SECRET = "s" * 40


def requests_total(text: str, status: str) -> float:
    pattern = (
        r'^tapmask_http_requests_total\{app_name="tapmask-notifier",method="GET",'
        rf'path="/api/jobs/\{{job_id\}}/events",status_code="{status}"\}} (\S+)$'
    )
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_liveness_answers_and_stream_requests_are_counted_by_route() -> None:
    broker = KafkaBroker()
    app = create_app(Settings(token_secret=SECRET), broker=broker)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        TestKafkaBroker(broker),
        httpx.AsyncClient(transport=transport, base_url="http://notifier") as client,
    ):
        before = (await client.get("/metrics")).text
        live = await client.get("/livez")
        # Without a token: refused, and counted under the route's template, not the job id.
        refused = [(await client.get(f"/api/jobs/{uuid4()}/events")).status_code for _ in range(3)]
        after = (await client.get("/metrics")).text

    assert live.status_code == 200 and live.json() == {"status": "alive"}
    [status] = set(refused)
    assert 400 <= status < 500
    assert requests_total(after, str(status)) - requests_total(before, str(status)) == 3
    assert "tapmask_http_request_duration_seconds_bucket" in after
    assert 'path="/livez"' not in after
