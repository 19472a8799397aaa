"""Monthly video quotas and per-client request rate limits (pure: the clock is passed in)."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"


def month_of(now: datetime) -> date:
    """The quota period a moment falls in: its calendar month (UTC)."""
    now = now.astimezone(UTC)
    return date(now.year, now.month, 1)


def seconds_until_next_month(now: datetime) -> int:
    """Retry-After for an exhausted monthly quota: when the next month starts (UTC)."""
    now = now.astimezone(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    nxt = datetime(year, month, 1, tzinfo=UTC)
    return max(1, math.ceil((nxt - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    allowed: bool
    used: int
    limit: int
    retry_after_s: int = 0


def check_quota(used: int, limit: int, now: datetime) -> QuotaDecision:
    """Whether one more video fits in this month's quota."""
    if used < limit:
        return QuotaDecision(True, used, limit)
    return QuotaDecision(False, used, limit, seconds_until_next_month(now))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per client: `per_minute` requests a minute with bursts up to `burst`.

    Memory is bounded: at most `max_clients` buckets, the least recently used dropped
    first (a dropped client simply starts again with a full bucket).
    """

    def __init__(self, max_clients: int = 100_000) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max = max_clients

    def hit(self, client: str, per_minute: int, burst: int, now: float) -> int:
        """Take one request; 0 when allowed, else the seconds to wait (Retry-After)."""
        rate = per_minute / 60.0
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(tokens=float(burst), updated=now)
            self._buckets[client] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        if rate <= 0:
            return 60
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def __len__(self) -> int:
        return len(self._buckets)
