"""Durable count of how often a worker *started* a job's stage.

The retry counter inside an event (``attempt``) only counts failures the worker lived
through. A message that kills the worker itself (out of memory, a segfault in a codec,
SIGKILL every time) is never committed and comes back forever. So before a stage starts,
the worker records the start in object storage - the only store a worker has - as one
small object per job and stage, ``attempts/{service}/{job_id}`` holding the number of
starts. A redelivered message whose recorded starts reached ``max_attempts`` is given up
without running it.

One GET + one PUT per start; the object is deleted once the stage is settled (done or
given up), so a late redelivery after success is not mistaken for a crash loop.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Protocol

from tapmask_schemas.keys import attempts_key

log = logging.getLogger("tapmask.worker")


class SmallObjects(Protocol):
    """Tiny objects read and written whole (a JSON document of a few bytes)."""

    async def read_bytes(self, key: str) -> bytes | None:
        """The object's content, or None when it does not exist."""
        ...

    async def write_bytes(self, key: str, data: bytes) -> None: ...

    async def delete(self, key: str) -> None:
        """Remove the object; no error when it does not exist."""
        ...


class AttemptLedger:
    """Starts of each job's stage, kept in object storage under ``attempts/``."""

    def __init__(self, objects: SmallObjects, service: str) -> None:
        self._objects = objects
        self._service = service

    def key(self, job_id: uuid.UUID) -> str:
        return attempts_key(self._service, job_id)

    async def starts(self, job_id: uuid.UUID) -> int:
        """How many times this stage of the job was started and not settled."""
        raw = await self._objects.read_bytes(self.key(job_id))
        if raw is None:
            return 0
        try:
            return int(json.loads(raw)["starts"])
        except (ValueError, TypeError, KeyError):
            # Unreadable (written by something else): count it as one start, never zero.
            log.warning("unreadable attempts record %s; counting 1", self.key(job_id))
            return 1

    async def record_start(self, job_id: uuid.UUID, starts_before: int) -> None:
        """Durably note one more start; call before any work of the stage begins."""
        body = json.dumps({"starts": starts_before + 1}).encode()
        await self._objects.write_bytes(self.key(job_id), body)

    async def forget_start(self, job_id: uuid.UUID, starts_before: int) -> None:
        """Undo a start that ended cleanly without an outcome (abandoned at SIGTERM)."""
        if starts_before == 0:
            await self._objects.delete(self.key(job_id))
        else:
            body = json.dumps({"starts": starts_before}).encode()
            await self._objects.write_bytes(self.key(job_id), body)

    async def settle(self, job_id: uuid.UUID) -> None:
        """The stage is done or given up: its starts no longer matter."""
        await self._objects.delete(self.key(job_id))
