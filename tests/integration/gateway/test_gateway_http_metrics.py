"""The gateway's HTTP metrics as Prometheus scrapes them: every request counted by route
template and status with its latency (Litestar's Prometheus middleware), rate-limited ones
included; probes and scrapes left out."""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

import httpx
import pytest
from gateway_harness import running_gateway

from tapmask_gateway.settings import Settings

pytestmark = pytest.mark.integration

ROUTE = "/api/jobs/{job_id}"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the series `name` whose labels include `labels` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if labels.items() <= found.items():
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_requests_are_counted_by_route_and_status_with_their_latency(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(run_background=False, trusted_proxies=[])
    settings.quotas.free_requests_per_minute = 4
    settings.quotas.free_burst = 4
    async with running_gateway(settings) as served, httpx.AsyncClient(base_url=served.url) as c:
        # The series live in the process's default registry (other gateways in this test
        # session add to them): compare before and after.
        before = (await c.get("/metrics")).text
        codes = [(await c.get(f"/api/jobs/{uuid4()}")).status_code for _ in range(6)]
        # The kubelet's liveness probe from the same address is never rate-limited.
        for _ in range(3):
            assert (await c.get("/livez")).status_code == 200
        after = (await c.get("/metrics")).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert codes == [404] * 4 + [429] * 2
    gateway = {"app_name": "tapmask-gateway", "method": "GET"}
    # One series per route, not per job id.
    requests = "tapmask_http_requests_total"
    assert grew(requests, path=ROUTE, status_code="404", **gateway) == 4
    # Refused by the rate limit before reaching the route: still counted.
    assert grew(requests, path=ROUTE, status_code="429", **gateway) == 2
    assert grew("tapmask_http_request_duration_seconds_count", path=ROUTE, **gateway) == 6
    assert grew("tapmask_http_request_duration_seconds_bucket", path=ROUTE, le="+Inf") == 6
    # Probes and scrapes are not traffic.
    assert 'path="/livez"' not in after and 'path="/metrics"' not in after
