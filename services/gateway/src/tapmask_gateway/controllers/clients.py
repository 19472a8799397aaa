"""Rate limiting middleware: resolves the client (IP or API key) and applies its request rate."""

from __future__ import annotations

import json
import time

import asyncpg
from litestar import Litestar
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from tapmask_gateway.adapters import db
from tapmask_gateway.controllers.deps import provide_db_pool
from tapmask_gateway.domain.clients import Client, Network, client_address, parse_networks
from tapmask_gateway.domain.quotas import RateLimiter, Tier
from tapmask_gateway.domain.records import ApiKey
from tapmask_gateway.domain.tokens import token_hash
from tapmask_gateway.metrics import Metrics
from tapmask_gateway.settings import Settings

_KEY_CACHE_S = 30.0


async def _send_problem(send: Send, status: int, detail: str, retry_after: int | None) -> None:
    headers = [(b"content-type", b"application/json")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    body = json.dumps({"status_code": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class ClientMiddleware(ASGIMiddleware):
    """Puts `client` in request state and refuses requests over the client's rate."""

    scopes = (ScopeType.HTTP,)
    # Liveness is never refused: a kubelet probing a busy node's pods from one IP must not
    # get a 429 and restart a healthy gateway.
    exclude_path_pattern = ("^/metrics$", "^/livez$")

    def __init__(self, settings: Settings, metrics: Metrics, limiter: RateLimiter) -> None:
        self.settings = settings
        self.metrics = metrics
        self.limiter = limiter
        self.proxies: tuple[Network, ...] = parse_networks(settings.trusted_proxies)
        self.pepper = settings.token_secret.get_secret_value().encode()
        # API key hash -> (key or None, when looked up): spares a query per request.
        self.key_cache: dict[str, tuple[ApiKey | None, float]] = {}

    async def _api_key(self, db_pool: asyncpg.Pool, presented: str) -> ApiKey | None:
        digest = token_hash(presented)
        cached = self.key_cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[1] < _KEY_CACHE_S:
            return cached[0]
        found = await db.find_api_key(db_pool, digest)
        if len(self.key_cache) > 10_000:
            self.key_cache.clear()
        self.key_cache[digest] = (found, now)
        return found

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = Headers.from_scope(scope)
        peer_info = scope.get("client")
        peer = peer_info[0] if peer_info else None
        ip = client_address(peer, headers.get("x-forwarded-for"), self.proxies)
        quotas = self.settings.quotas
        presented = headers.get("x-api-key")
        client = Client(ip=ip, tier=Tier.FREE, pepper=self.pepper)
        if presented:
            # The pool is made in the app's lifespan, after this middleware.
            pool = provide_db_pool(Litestar.from_scope(scope).state)
            key = await self._api_key(pool, presented)
            if key is None:
                self.metrics.rejected.labels("bad_api_key").inc()
                await _send_problem(send, 401, "unknown or revoked API key (X-API-Key)", None)
                return
            client = Client(ip=ip, tier=Tier.PRO, api_key=key, pepper=self.pepper)
        limits = quotas.of(client.tier)
        per_minute, burst = limits.requests_per_minute, limits.burst
        wait = self.limiter.hit(client.subject, per_minute, burst, time.monotonic())
        if wait:
            self.metrics.rejected.labels("rate_limit").inc()
            detail = f"too many requests: the limit is {per_minute} a minute; retry in {wait} s"
            await _send_problem(send, 429, detail, wait)
            return
        scope.setdefault("state", {})["client"] = client
        await next_app(scope, receive, send)
