"""Small helpers shared by controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException

from tapmask_gateway.context import Client, Gateway


class Problem(HTTPException):
    """A 4xx/5xx whose detail tells the client what is wrong."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail=detail, status_code=status_code, headers=headers)


AnyRequest = Request[Any, Any, State]
# Injected by name (see create_app): the one Gateway of the app.
GatewayDep = NamedDependency[Gateway]


def client_of(request: AnyRequest) -> Client:
    client = request.state.get("client")
    if not isinstance(client, Client):
        raise Problem(500, "client middleware did not run")
    return client
