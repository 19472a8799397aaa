"""The monthly quota and the claim of an upload under concurrent job creations, on the real
PostgreSQL (issue 18: the race was tested only against a fake repository's flag, so the
atomic SQL of ``adapters/db.py`` never met a second transaction).

The overlap is made, not hoped for: one creation holds its transaction open after taking
its quota unit, a second one starts meanwhile and must wait for it, then finds the quota
used up (or the upload claimed) when the first commits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from db_schema import new_schema

from tapmask_gateway.adapters import db
from tapmask_gateway.domain.records import NewJob
from tapmask_gateway.usecases.ports import QuotaExceeded, UploadAlreadyUsed

pytestmark = pytest.mark.integration

MONTH = date(2026, 12, 1)


@pytest.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    created = await db.create_pool(await new_schema(postgres_dsn, "quota_race"), 1, 8)
    await db.migrate(created)
    try:
        yield created
    finally:
        await created.close()


def _job(upload: str) -> NewJob:
    return NewJob(
        id=uuid.uuid4(),
        access_token_hash="h" * 64,
        mode="privacy",
        effect="blur",
        points=[{"x": 1, "y": 1, "frame": 0, "positive": True, "object_id": 0}],
        upload_key=f"jobs/{uuid.uuid4().hex}.mp4",
        video={"width": 64, "height": 48},
        client_ip="10.9.9.9",
        api_key_id=None,
        tier="free",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


async def _upload(pool: asyncpg.Pool, subject: str) -> str:
    key = f"uploads/{uuid.uuid4().hex}.mp4"
    expires = datetime.now(UTC) + timedelta(hours=1)
    assert await db.insert_upload(pool, key, "video/mp4", 1000, subject, expires)
    return key


async def _create(pool: asyncpg.Pool, subject: str, claim: str | None, quota: int) -> None:
    job = _job(claim or "none")
    await db.create_job(
        pool,
        job,
        subject=subject,
        month=MONTH,
        quota=quota,
        claim=claim,
        topic="job-created",
        key=job.id.bytes,
        event={"job_id": str(job.id)},
    )


async def _blocked(task: asyncio.Task[None]) -> bool:
    """True when ``task`` has not finished after 0.3 s (it waits for a row lock)."""
    done, _ = await asyncio.wait({task}, timeout=0.3)
    return not done


async def test_two_creations_at_once_on_the_last_unit_of_quota_make_one_job(
    pool: asyncpg.Pool,
) -> None:
    subject = f"ip:{uuid.uuid4().hex[:8]}"
    first_upload, second_upload = await _upload(pool, subject), await _upload(pool, subject)
    async with pool.acquire() as first, first.transaction():
        await db._use_quota(first, subject, MONTH, 1)  # the first took the last unit...
        second = asyncio.create_task(_create(pool, subject, second_upload, 1))
        assert await _blocked(second)  # ...so the second waits for its transaction
        await first.execute(
            "UPDATE uploads SET job_id = $1 WHERE key = $2", uuid.uuid4(), first_upload
        )
    with pytest.raises(QuotaExceeded):
        await second
    assert await db.videos_used(pool, subject, MONTH) == 1
    # The refused creation left nothing behind: its upload unclaimed, no job, no event.
    assert (await db.find_upload(pool, second_upload)).job_id is None  # type: ignore[union-attr]
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_many_creations_at_once_never_pass_the_quota(pool: asyncpg.Pool) -> None:
    subject = f"ip:{uuid.uuid4().hex[:8]}"
    uploads = [await _upload(pool, subject) for _ in range(8)]
    results = await asyncio.gather(
        *(_create(pool, subject, key, 3) for key in uploads), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(refused) == 5 and results.count(None) == 3, results
    assert await db.videos_used(pool, subject, MONTH) == 3
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 3
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 3


async def test_two_creations_from_one_upload_at_once_make_one_job_and_one_quota_unit(
    pool: asyncpg.Pool,
) -> None:
    subject = f"ip:{uuid.uuid4().hex[:8]}"
    upload = await _upload(pool, subject)
    async with pool.acquire() as first, first.transaction():
        claimed = await first.fetchval(
            "UPDATE uploads SET job_id = $1 WHERE key = $2 AND job_id IS NULL RETURNING key",
            uuid.uuid4(),
            upload,
        )
        assert claimed == upload
        second = asyncio.create_task(_create(pool, f"{subject}-other", upload, 10))
        assert await _blocked(second)
    with pytest.raises(UploadAlreadyUsed):
        await second
    # The refused creation's quota unit was rolled back with it.
    assert await db.videos_used(pool, f"{subject}-other", MONTH) == 0
