"""The mask preview's admission (domain/preview_queue.py): who gets a worker, who is refused
and how, with the clock passed in."""

from __future__ import annotations

import pytest

from tapmask_gateway.domain.preview_queue import (
    Busy,
    Outcome,
    PreviewLimits,
    PreviewQueue,
    Ticket,
)


class _Queue(PreviewQueue):
    """Each click charged, then admitted, as the gateway does."""

    def admit(self, client: str, upload: str, now: float) -> tuple[Ticket, list[Ticket]]:
        self.charge(client, now)
        return super().admit(client, upload, now)


def _queue(**limits: float) -> PreviewQueue:
    base: dict[str, float] = {"rate_per_minute": 600, "burst": 100}
    return _Queue(PreviewLimits(**(base | limits)))  # type: ignore[arg-type]


def test_a_newer_click_replaces_the_one_still_waiting_which_is_never_run() -> None:
    queue = _queue()
    running, _ = queue.admit("ann", "up1", 0.0)
    assert queue.grant() == [running]
    stale, _ = queue.admit("ann", "up1", 0.1)
    newer, dropped = queue.admit("ann", "up1", 0.2)
    assert dropped == [stale] and stale.outcome is Outcome.SUPERSEDED
    queue.finish(running, 1.0, 1.0)
    assert queue.grant() == [newer]  # the stale click never reaches a worker


def test_one_client_has_at_most_per_client_in_flight_and_is_told_so() -> None:
    queue = _queue(workers=2, per_client=2)
    queue.admit("ann", "up1", 0.0)
    queue.grant()
    b, _ = queue.admit("ann", "up1", 0.0)
    assert queue.grant() == [b]  # two workers, both hers now
    with pytest.raises(Busy) as refused:
        queue.admit("ann", "up1", 0.1)
    assert refused.value.status == 429 and refused.value.retry_after_s >= 1
    assert "2 mask previews running already" in refused.value.detail
    queue.admit("bob", "up2", 0.1)  # someone else is not refused for her


def test_a_client_over_its_rate_gets_429_with_when_to_retry() -> None:
    queue = _queue(rate_per_minute=6, burst=2)
    queue.admit("ann", "up1", 0.0)
    queue.admit("ann", "up1", 0.0)  # replaces the first (still waiting)
    with pytest.raises(Busy) as refused:
        queue.admit("ann", "up1", 0.0)
    assert refused.value.status == 429
    assert refused.value.retry_after_s == 10  # one token every 10 s at 6 a minute
    assert "6 a minute" in refused.value.detail


def test_a_full_queue_refuses_with_503_and_when_to_retry() -> None:
    queue = _queue(queue=2)
    first, _ = queue.admit("flood1", "f1", 0.0)
    queue.grant()
    queue.finish(first, 1.0, 1.0)  # flood1 was served at t=1
    queue.admit("runner", "r", 1.0)
    queue.grant()  # the one worker is busy from here on
    queue.admit("flood2", "f2", 1.1)
    queue.admit("flood3", "f3", 1.2)
    # Both waiting clients were never served: flood1 takes no one's place.
    with pytest.raises(Busy) as refused:
        queue.admit("flood1", "f1", 1.3)
    assert refused.value.status == 503 and refused.value.retry_after_s >= 1
    assert "busy" in refused.value.detail and "2 clicks are waiting" in refused.value.detail


def test_a_never_served_client_displaces_the_most_recently_served_one() -> None:
    queue = _queue(queue=1)
    served, _ = queue.admit("flood", "f", 0.0)
    queue.grant()
    queue.finish(served, 1.0, 1.0)
    busy, _ = queue.admit("runner", "r", 1.0)
    queue.grant()
    waiting, _ = queue.admit("flood", "f", 1.1)
    newcomer, dropped = queue.admit("person", "p", 1.2)
    assert dropped == [waiting] and waiting.outcome is Outcome.DISPLACED
    queue.finish(busy, 2.0, 1.0)
    assert queue.grant() == [newcomer]


def test_the_least_recently_served_client_goes_first() -> None:
    queue = _queue(queue=4)
    for name, t in (("often", 5.0), ("seldom", 1.0)):
        ticket, _ = queue.admit(name, name, t - 0.5)
        queue.grant()
        queue.finish(ticket, t, 0.5)
    runner, _ = queue.admit("runner", "r", 6.0)
    queue.grant()
    queue.admit("often", "often", 6.1)  # came first
    queue.admit("seldom", "seldom", 6.2)
    queue.admit("new", "new", 6.3)
    order = []
    for t in (7.0, 8.0, 9.0):
        queue.finish(runner, t, 1.0)
        (runner,) = queue.grant()
        order.append(runner.client)
    assert order == ["new", "seldom", "often"]


def test_a_click_waiting_too_long_is_withdrawn_as_expired_and_frees_its_place() -> None:
    queue = _queue(queue=1)
    queue.admit("runner", "r", 0.0)
    queue.grant()
    late, _ = queue.admit("ann", "a", 0.1)
    assert queue.withdraw(late) is Outcome.EXPIRED
    assert queue.waiting == 0
    queue.admit("bob", "b", 1.2)  # the place is free again


def test_background_work_takes_only_an_idle_worker_and_never_queues() -> None:
    queue = _queue()
    assert queue.background("up1") is not None
    assert queue.background("up2") is None  # the one worker is busy: skipped, not queued
    click, _ = queue.admit("ann", "up1", 0.0)
    assert queue.waiting == 1 and click.outcome is Outcome.WAITING


def test_a_click_goes_to_the_worker_that_holds_its_uploads_features() -> None:
    queue = _queue(workers=2)
    a, _ = queue.admit("ann", "upA", 0.0)
    b, _ = queue.admit("bob", "upB", 0.0)
    queue.grant()
    assert (a.worker, b.worker) == (0, 1)
    queue.finish(a, 1.0, 1.0)
    queue.finish(b, 1.0, 1.0)
    again, _ = queue.admit("bob", "upB", 2.0)
    queue.grant()
    assert again.worker == 1


def test_only_background_work_running_is_told_apart_from_a_click_running() -> None:
    queue = _queue()
    prepared = queue.background("up1")
    assert prepared is not None and queue.only_background_running()
    queue.finish(prepared, 1.0)
    queue.admit("ann", "up1", 1.0)
    queue.grant()
    assert not queue.only_background_running()
