"""What the gateway stores of API keys, uploads and jobs, as plain values (no I/O).

Defined here, not in the PostgreSQL adapter, so the use cases (``tapmask_gateway.usecases``)
and their in-memory fakes speak of jobs and uploads without importing asyncpg."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tapmask_gateway.domain.jobs import JobState


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: UUID
    name: str
    tier: str
    videos_per_month: int | None


@dataclass(frozen=True, slots=True)
class UploadRow:
    key: str
    content_type: str
    size_bytes: int
    subject: str
    expires_at: datetime
    job_id: UUID | None


@dataclass(frozen=True, slots=True)
class JobRow:
    id: UUID
    access_token_hash: str
    state: JobState
    mode: str
    effect: str
    upload_key: str
    video: dict[str, Any]
    tier: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewJob:
    id: UUID
    access_token_hash: str
    mode: str
    effect: str
    points: list[dict[str, Any]]
    upload_key: str
    video: dict[str, Any]
    client_ip: str
    api_key_id: UUID | None
    tier: str
    expires_at: datetime
