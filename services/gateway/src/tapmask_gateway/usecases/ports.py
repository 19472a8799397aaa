"""What the use cases need from the outside world, as ``typing.Protocol`` ports.

The adapters (``tapmask_gateway.adapters``: PostgreSQL, S3, the capped probe) implement them
for the running gateway; the unit tests implement them in memory. Before this layer, job
creation was a 140-line controller method that could only be tested over HTTP with
PostgreSQL and S3 running (issue 11); through these ports its every refusal is a unit test.

The errors an adapter raises are part of its port, so they are defined here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from tapmask_gateway.domain.records import JobRow, NewJob, UploadRow
from tapmask_schemas import JobCreated, JobProgress, JobStatus, MasksReady, Stage

if TYPE_CHECKING:
    from tapmask_media.probe import VideoInfo


class QuotaExceeded(Exception):
    """Another request used up the quota between the check and the insert."""


class UploadAlreadyUsed(Exception):
    """The upload was claimed by another job (or by a concurrent request)."""


class UploadChanged(Exception):
    """The object's bytes are no longer the ones with the ETag asked for."""


class ProbeRejected(ValueError):
    """The upload is not a usable video; the message names the problem."""


#: Why the upload was refused when its bytes changed under a check (the same words whether
#: the probe's download or the job's pinned copy noticed).
CHANGED = "the upload changed while it was being checked: send the video once, then start the job"


class ProbeBusy(Exception):
    """Every probe slot stayed busy for the whole wait: no probe was started."""


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """Where and how a browser POSTs one upload: ``fields`` first, then the file."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    info: VideoInfo
    #: The ETag of the bytes that were probed (what the job pins).
    etag: str


class JobRepository(Protocol):
    """Jobs, uploads and monthly counts, with the outbox: a job and its event are written
    in one transaction (or neither is), so an accepted job is never lost between the
    database and Kafka."""

    async def find_upload(self, key: str) -> UploadRow | None: ...

    async def videos_used(self, subject: str, month: date) -> int:
        """Jobs ``subject`` created in ``month``."""
        ...

    async def get_job(self, job_id: UUID) -> JobRow | None: ...

    async def add_job(
        self,
        job: NewJob,
        event: JobCreated | MasksReady,
        *,
        topic: str,
        subject: str,
        month: date,
        quota: int,
        claim: str | None,
    ) -> None:
        """The job row, one more job of ``subject`` in ``month`` (at most ``quota``, else
        ``QuotaExceeded``), the claim of upload ``claim`` (None: no upload to claim; taken
        already: ``UploadAlreadyUsed``) and ``event`` for ``topic`` in the outbox: all or
        nothing."""
        ...

    async def cancel(
        self,
        job_id: UUID,
        *,
        running: list[JobStatus],
        reason: str,
        event_for: Callable[[Stage, float], JobProgress],
    ) -> bool:
        """Mark the job cancelled if its status is one of ``running``, with the progress
        event ``event_for(stage, percent)`` in the outbox, in one transaction. False when
        the job had already finished (nothing changed)."""
        ...


class UploadRepository(Protocol):
    """The uploads a client was handed (one row each, until a job claims it)."""

    async def find_upload(self, key: str) -> UploadRow | None: ...

    async def add_upload(
        self,
        key: str,
        content_type: str,
        size: int,
        subject: str,
        expires_at: datetime,
        unused_per_hour: int,
    ) -> bool:
        """Record a presigned upload; False (nothing recorded) when ``subject`` already holds
        ``unused_per_hour`` uploads without a job presigned in the last hour."""
        ...


class UploadStore(Protocol):
    """The object store, as the use cases see it."""

    async def presign_upload(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> PresignedPost:
        """A POST policy pinning the key, the content type and the exact length."""
        ...

    async def presign_download(self, key: str, filename: str, expires_in: int) -> str:
        """A URL that GETs ``key`` as an attachment named ``filename``."""
        ...

    async def size(self, key: str) -> int | None:
        """Bytes of the object, or None when there is none."""
        ...

    async def head(self, key: str) -> tuple[int, str] | None:
        """Bytes and ETag of the object (one request), or None when there is none."""
        ...

    async def pin(self, key: str, dest: str, etag: str) -> None:
        """Copy ``key`` to ``dest`` only if it still has ``etag`` (else ``UploadChanged``)."""
        ...

    async def delete(self, keys: list[str]) -> None: ...

    async def put_marker(self, key: str) -> None:
        """A tiny object whose presence is the message (a cancel marker)."""
        ...


class UploadProbe(Protocol):
    """Checking that an upload is a video within the limits, at most once per ETag."""

    async def known(self, key: str, etag: str) -> CheckedUpload | None:
        """The outcome of an earlier probe of the bytes with ``etag`` (None: never probed);
        ``ProbeRejected`` at once for bytes refused before."""
        ...

    async def probe(self, key: str, etag: str) -> CheckedUpload:
        """Probe the bytes with ``etag``: ``ProbeRejected`` naming the problem, or
        ``ProbeBusy`` when no probe slot came free in time."""
        ...
