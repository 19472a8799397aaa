"""What controllers share: answers in plain words, the use cases' refusals turned into HTTP
answers, and one dependency provider per dependency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

import asyncpg
import httpx
from faststream.kafka import KafkaBroker
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import SkipValidation

from tapmask_gateway.adapters.preview import UploadFrames
from tapmask_gateway.adapters.preview_pool import PreviewPool
from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.domain.clients import Client
from tapmask_gateway.domain.tokens import bearer_token
from tapmask_gateway.metrics import Metrics
from tapmask_gateway.settings import Settings
from tapmask_gateway.usecases.errors import Refusal, Refused
from tapmask_gateway.usecases.jobs import JobService
from tapmask_gateway.usecases.uploads import UploadService
from tapmask_runtime.streams import StreamSlots


class Problem(HTTPException):
    """A 4xx/5xx whose detail tells the client what is wrong."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail=detail, status_code=status_code, headers=headers)


AnyRequest = Request[Any, Any, State]

#: The HTTP status of each kind of refusal.
STATUS: Final[dict[Refusal, int]] = {
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.GONE: 410,
    Refusal.INVALID: 422,
    Refusal.MALFORMED: 400,
    Refusal.UNSUPPORTED: 415,
    Refusal.TOO_LARGE: 413,
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
def http_refusals(metrics: Metrics | None = None) -> Iterator[None]:
    """Around a use case's call: a ``Refused`` leaves as the HTTP answer (``as_problem``),
    counted in ``metrics`` when given."""
    try:
        yield
    except Refused as exc:
        raise as_problem(exc, metrics) from exc


def presented_token(request: AnyRequest, token: str | None) -> str | None:
    """The job token a request presents: ``Authorization: Bearer`` or ``?token=``.

    Only for the event stream and downloads, where a browser cannot send a header
    (EventSource, a link); everywhere else ``header_token``: a token in an address ends up
    in proxies' and browsers' histories and logs (issue 18)."""
    return bearer_token(request.headers.get("authorization"), token)


def header_token(request: AnyRequest) -> str | None:
    """The job token of ``Authorization: Bearer`` only; a ``?token=`` is refused in plain
    words (400), not silently ignored."""
    if "token" in request.query_params:
        raise Problem(
            400,
            "send the job's access token as 'Authorization: Bearer <token>'; ?token= in the "
            "address is accepted only by the event stream and the downloads",
        )
    return bearer_token(request.headers.get("authorization"), None)


def client_of(request: AnyRequest) -> Client:
    client = request.state.get("client")
    if not isinstance(client, Client):
        raise Problem(500, "client middleware did not run")
    return client


# --- one provider per dependency -----------------------------------------------------------
# create_app puts each object in the app's state (those needing the database, the store or
# Kafka in its lifespan) and registers each provider under the parameter name a handler
# uses, so a handler declares only what it uses (litestar-fullstack's ``deps.py``), where one
# mutable object with a dozen attributes used to be handed to every controller (issue 11).
# Validation is skipped: these are the app's own objects, not input.


def provide_client(request: AnyRequest) -> Client:
    """Who the request is counted against (set by ``ClientMiddleware``)."""
    return client_of(request)


def provide_settings(state: State) -> Settings:
    return cast(Settings, state.settings)


def provide_metrics(state: State) -> Metrics:
    return cast(Metrics, state.metrics)


def provide_jobs(state: State) -> JobService:
    return cast(JobService, state.jobs)


def provide_uploads(state: State) -> UploadService:
    return cast(UploadService, state.uploads)


def provide_db_pool(state: State) -> asyncpg.Pool:
    return cast(asyncpg.Pool, state.db_pool)


def provide_s3(state: State) -> GatewayS3:
    return cast(GatewayS3, state.s3)


def provide_broker(state: State) -> KafkaBroker | None:
    """None until the lifespan has made it (``/api/health`` then says Kafka is down)."""
    return cast("KafkaBroker | None", state.get("broker"))


def provide_projector(state: State) -> Any:
    """The projector's FastStream subscriber (its consumer gives the lag); None when this
    replica runs no background work."""
    return state.get("projector")


def provide_http(state: State) -> httpx.AsyncClient:
    return cast(httpx.AsyncClient, state.http)


def provide_streams(state: State) -> StreamSlots:
    return cast(StreamSlots, state.streams)


def provide_probe_slots(state: State) -> asyncio.Semaphore:
    """Bounds the disk and memory that probes and frame previews take at once."""
    return cast(asyncio.Semaphore, state.probe_slots)


def provide_frames(state: State) -> UploadFrames | None:
    return cast("UploadFrames | None", state.get("frames"))


def provide_pool(state: State) -> PreviewPool | None:
    """The mask preview's workers and their admission (None until the lifespan made them)."""
    return cast("PreviewPool | None", state.get("preview_pool"))


def dependencies() -> dict[str, Provide]:
    """Each provider under the parameter name handlers use (a new dict per app: Litestar
    keeps what it learns of each ``Provide`` on it)."""
    providers: dict[str, Callable[..., Any]] = {
        "client": provide_client,
        "settings": provide_settings,
        "metrics": provide_metrics,
        "jobs": provide_jobs,
        "uploads": provide_uploads,
        "db_pool": provide_db_pool,
        "s3": provide_s3,
        "broker": provide_broker,
        "projector": provide_projector,
        "http": provide_http,
        "streams": provide_streams,
        "probe_slots": provide_probe_slots,
        "frames": provide_frames,
        "pool": provide_pool,
    }
    return {name: Provide(p, sync_to_thread=False) for name, p in providers.items()}


ClientDep = NamedDependency[SkipValidation[Client]]
SettingsDep = NamedDependency[SkipValidation[Settings]]
MetricsDep = NamedDependency[SkipValidation[Metrics]]
JobsDep = NamedDependency[SkipValidation[JobService]]
UploadsDep = NamedDependency[SkipValidation[UploadService]]
DbPoolDep = NamedDependency[SkipValidation[asyncpg.Pool]]
S3Dep = NamedDependency[SkipValidation[GatewayS3]]
BrokerDep = NamedDependency[SkipValidation[KafkaBroker | None]]
ProjectorDep = NamedDependency[SkipValidation[Any]]
HttpDep = NamedDependency[SkipValidation[httpx.AsyncClient]]
StreamsDep = NamedDependency[SkipValidation[StreamSlots]]
ProbeSlotsDep = NamedDependency[SkipValidation[asyncio.Semaphore]]
FramesDep = NamedDependency[SkipValidation[UploadFrames | None]]
PreviewPoolDep = NamedDependency[SkipValidation[PreviewPool | None]]
