"""``GET /api/jobs/{id}/events``: a job's progress as Server-Sent Events.

The token comes as ``Authorization: Bearer`` or ``?token=`` (EventSource cannot set
headers); a wrong one gets 404, like a job that does not exist. The stream opens with
the job's current state (asked from the gateway when the notifier has not heard of the
job), resumes after ``Last-Event-ID`` (ids derive from the events, so an id issued by
another replica or before a restart works too), sends a keep-alive comment on quiet
stretches and ends after the final (completed or failed) event.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from tapmask_notifier.gateway_client import JobNotFound, state_from_view
from tapmask_notifier.hub import Hub, Subscription
from tapmask_notifier.ids import EventKey
from tapmask_notifier.metrics import NotifierMetrics
from tapmask_notifier.settings import Settings
from tapmask_runtime.clients import address_key, client_address, parse_networks
from tapmask_runtime.streams import StreamSlots
from tapmask_runtime.tokens import bearer_token, token_matches
from tapmask_schemas import JobStatus, Stage
from tapmask_schemas.updates import JobUpdate


def _presented_token(request: Request[Any, Any, Any], token: str | None) -> str | None:
    return bearer_token(request.headers.get("authorization"), token)


def pending_state(job_id: UUID) -> JobUpdate:
    """What a job the notifier has heard nothing about yet looks like: accepted, queued."""
    return JobUpdate(
        job_id=job_id,
        event_type="state",
        status=JobStatus.PENDING,
        stage=Stage.QUEUED,
        percent=0.0,
        message="Waiting for a worker",
    )


JobLookup = Callable[[UUID, str], Awaitable[dict[str, Any] | None]]


def sse_routes(
    hub: Hub, settings: Settings, metrics: NotifierMetrics, lookup: JobLookup | None = None
) -> list[HTTPRouteHandler]:
    """``lookup``: where to ask the state of a job the hub does not know (the gateway)."""
    opts = settings.notifier
    secret = settings.token_secret.get_secret_value()
    proxies = parse_networks(opts.trusted_proxies)
    # One client must not hold every stream (issue 9): caps per client and per job.
    slots = StreamSlots(opts.per_client, opts.per_job, opts.max_streams)

    async def stream(
        sub: Subscription,
        job_id: UUID,
        known: tuple[JobUpdate, bool] | None,
        resuming: bool,
        release: Callable[[], None],
    ) -> AsyncIterator[ServerSentEventMessage]:
        metrics.subscribers.inc()
        try:
            yield ServerSentEventMessage(
                data=None, comment="tapmask job events", retry=opts.retry_ms
            )
            # A job not heard of (yet: a restart may still be replaying): the gateway's
            # state, else "pending", except to a resuming client, who knows better.
            if hub.latest(job_id) is None and (known is not None or not resuming):
                state, final = known or (pending_state(job_id), False)
                yield ServerSentEventMessage(data=json.dumps(state.data()))
                if final:
                    return
            while True:
                update = await sub.next(opts.keepalive_s)
                if update is None:
                    yield ServerSentEventMessage(data=None, comment="keep-alive")
                    continue
                yield ServerSentEventMessage(id=update.id, data=json.dumps(update.data))
                if update.final:
                    return
        finally:
            release()
            hub.unsubscribe(sub)
            metrics.subscribers.dec()
            metrics.dropped.inc(sub.dropped)

    @get("/api/jobs/{job_id:uuid}/events")
    async def job_events(
        request: Request[Any, Any, Any], job_id: FromPath[UUID], token: FromQuery[str | None] = None
    ) -> ServerSentEvent:
        if not token_matches(secret, job_id, _presented_token(request, token)):
            raise NotFoundException(f"job {job_id} not found")
        presented = _presented_token(request, token) or ""
        known = None
        if hub.latest(job_id) is None and lookup is not None:
            try:
                view = await lookup(job_id, presented)
            except JobNotFound as exc:
                raise NotFoundException(f"job {job_id} not found") from exc
            known = state_from_view(job_id, view) if view is not None else None
        peer = request.client.host if request.client else None
        client = address_key(client_address(peer, request.headers.get("x-forwarded-for"), proxies))
        refused = slots.open(client, str(job_id))
        if refused:
            raise TooManyRequestsException(refused, headers={"Retry-After": "5"})
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.close(client, str(job_id))

        last = request.headers.get("last-event-id")
        sub = hub.subscribe(job_id, last)
        events = stream(sub, job_id, known, EventKey.after_sse_id(last) is not None, release)
        # A stream the server never starts (the client left first) still gives its slot back.
        weakref.finalize(events, release)
        return ServerSentEvent(
            events, headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
        )

    return [job_events]
