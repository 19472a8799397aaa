"""Small helpers shared by controllers: answers in plain words, and the use cases' refusals
turned into HTTP answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import SkipValidation

from tapmask_gateway.context import Gateway
from tapmask_gateway.domain.clients import Client
from tapmask_gateway.domain.tokens import bearer_token
from tapmask_gateway.metrics import Metrics
from tapmask_gateway.usecases.errors import Refusal, Refused
from tapmask_gateway.usecases.jobs import JobService


class Problem(HTTPException):
    """A 4xx/5xx whose detail tells the client what is wrong."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail=detail, status_code=status_code, headers=headers)


AnyRequest = Request[Any, Any, State]
# Injected by name (see create_app): the one Gateway of the app.
GatewayDep = NamedDependency[Gateway]

#: The HTTP status of each kind of refusal.
STATUS: Final[dict[Refusal, int]] = {
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.GONE: 410,
    Refusal.INVALID: 422,
    Refusal.TOO_MANY: 429,
    Refusal.BUSY: 503,
}


def as_problem(refused: Refused, metrics: Metrics | None = None) -> Problem:
    """The answer to a refusal: its status, its words, ``Retry-After`` when it has one;
    counted by reason in ``metrics``."""
    if refused.reason is not None and metrics is not None:
        metrics.rejected.labels(refused.reason).inc()
    headers = None if refused.retry_after_s is None else {"Retry-After": str(refused.retry_after_s)}
    return Problem(STATUS[refused.kind], refused.detail, headers=headers)


@contextmanager
def http_refusals(metrics: Metrics) -> Iterator[None]:
    """Around a use case's call: a ``Refused`` leaves as the HTTP answer (``as_problem``)."""
    try:
        yield
    except Refused as exc:
        raise as_problem(exc, metrics) from exc


def presented_token(request: AnyRequest, token: str | None) -> str | None:
    """The job token a request presents: ``Authorization: Bearer`` or ``?token=``."""
    return bearer_token(request.headers.get("authorization"), token)


def client_of(request: AnyRequest) -> Client:
    client = request.state.get("client")
    if not isinstance(client, Client):
        raise Problem(500, "client middleware did not run")
    return client


# --- one provider per dependency -----------------------------------------------------------
# create_app puts each object in the app's state (those needing the database or the store in
# its lifespan) and registers each provider under the parameter name below, so a handler
# declares only what it uses. Validation is skipped: they are our own objects, not input.


def provide_client(request: AnyRequest) -> Client:
    """Who the request is counted against (set by ``ClientMiddleware``)."""
    return client_of(request)


def provide_metrics(state: State) -> Metrics:
    return cast(Metrics, state.metrics)


def provide_jobs(state: State) -> JobService:
    return cast(JobService, state.jobs)


ClientDep = NamedDependency[SkipValidation[Client]]
MetricsDep = NamedDependency[SkipValidation[Metrics]]
JobsDep = NamedDependency[SkipValidation[JobService]]
