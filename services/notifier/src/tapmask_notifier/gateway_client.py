"""The notifier's HTTP client of the gateway: the current state of a job the notifier has not
heard of (older than its replayed history), asked from the gateway's ``GET /api/jobs/{id}``
with the client's own token."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import httpx

from tapmask_schemas import JobStatus, Stage
from tapmask_schemas.updates import JobUpdate

log = logging.getLogger("tapmask.notifier")


class JobNotFound(LookupError):
    """The gateway does not know the job (or the token does not open it)."""


class GatewayJobs:
    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def __call__(self, job_id: UUID, token: str) -> dict[str, Any] | None:
        """The gateway's job view; None when it cannot tell (down, error)."""
        try:
            response = await self._client.get(
                f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            log.warning("gateway lookup of %s failed: %s", job_id, exc)
            return None
        if response.status_code == 404:
            raise JobNotFound(str(job_id))
        if response.status_code != 200:
            log.warning("gateway lookup of %s answered %d", job_id, response.status_code)
            return None
        view: dict[str, Any] = response.json()
        return view

    async def aclose(self) -> None:
        await self._client.aclose()


def state_from_view(job_id: UUID, view: dict[str, Any]) -> tuple[JobUpdate, bool]:
    """What the job's stream shows (and whether it is final) from the gateway's job view."""
    status = JobStatus(view.get("status", JobStatus.PENDING))
    failed = status in (JobStatus.FAILED, JobStatus.EXPIRED)
    update = JobUpdate(
        job_id=job_id,
        event_type="state",
        status=status,
        stage=Stage(view.get("stage", Stage.QUEUED)),
        percent=float(view.get("percent", 0.0)),
        message=view.get("error") or "",
        **({"reason": view.get("error") or f"the job {status.value}"} if failed else {}),
    )
    return update, status.is_final
