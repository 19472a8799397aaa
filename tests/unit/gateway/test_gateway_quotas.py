from __future__ import annotations

from datetime import UTC, date, datetime

from tapmask_gateway.domain.quotas import (
    RateLimiter,
    check_quota,
    month_of,
    seconds_until_next_month,
)


def test_quota_allows_until_the_limit_then_says_when_it_resets() -> None:
    now = datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC)
    assert check_quota(9, 10, now).allowed
    over = check_quota(10, 10, now)
    assert not over.allowed
    assert over.retry_after_s == 60  # one minute to December


def test_months_roll_over_at_year_end() -> None:
    assert month_of(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == date(2026, 12, 1)
    assert seconds_until_next_month(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == 3600


def test_rate_limiter_allows_a_burst_then_refuses_with_a_wait() -> None:
    limiter = RateLimiter()
    results = [limiter.hit("ip:1.2.3.4", per_minute=60, burst=3, now=100.0) for _ in range(4)]
    assert results[:3] == [0, 0, 0]
    assert results[3] == 1  # one token a second
    assert limiter.hit("ip:5.6.7.8", per_minute=60, burst=3, now=100.0) == 0  # others unaffected
    assert limiter.hit("ip:1.2.3.4", per_minute=60, burst=3, now=101.0) == 0  # refilled


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(max_clients=100)
    for i in range(1000):
        limiter.hit(f"ip:{i}", per_minute=60, burst=1, now=0.0)
    assert len(limiter) == 100
