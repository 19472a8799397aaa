"""PostgreSQL through asyncpg: migrations, jobs, uploads, quotas, API keys, outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date, datetime
from importlib import resources
from typing import Any
from uuid import UUID

import asyncpg

from tapmask_gateway.domain.jobs import JobState
from tapmask_gateway.domain.records import ApiKey, JobRow, NewJob, UploadRow
from tapmask_gateway.usecases.ports import QuotaExceeded, UploadAlreadyUsed
from tapmask_schemas import JobCreated, JobProgress, JobStatus, MasksReady, ReviewRange, Stage
from tapmask_schemas.topics import JOB_PROGRESS, key_for

# Any fixed number: serialises migrations when several gateway replicas start at once.
_MIGRATION_LOCK = 7_345_001


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _NoSessionStateConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection returned without asyncpg's reset query.

    By default every release runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` - one more round trip per request than the request's own query (a job's
    status is one ``SELECT``): 13 of the 311 busy samples of py-spy on the gateway under
    bench_api_load (issue 9 item 11). Without it, bursts of 128 queries through a pool of
    10 (bench_db_pool, same run, load average 3.7) took 1.30 s instead of 1.81 s, a query's
    p50 8.5 ms instead of 12.5 ms, 0.093 instead of 0.126 CPU ms. The gateway leaves no
    session state to reset: no LISTEN, no session-level advisory locks (migrations take
    ``pg_advisory_xact_lock``), no SET, no cursors outside transactions.
    asyncpg still rolls back an open transaction on release.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(dsn: str, min_size: int, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        connection_class=_NoSessionStateConnection,
    )
    assert pool is not None
    return pool


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("tapmask_gateway") / "migrations"
    files = sorted((p.name, p.read_text()) for p in folder.iterdir() if p.name.endswith(".sql"))
    return files


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the numbered .sql files not applied yet, in order; returns the names applied."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in _migration_files():
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
    return applied


def _state_from(row: asyncpg.Record) -> JobState:
    started = tuple(
        (Stage(name), datetime.fromisoformat(at))
        for name, at in (row["stage_started"] or {}).items()
    )
    return JobState(
        status=JobStatus(row["status"]),
        stage=Stage(row["stage"]),
        percent=float(row["percent"]),
        error=row["error"],
        masks_key=row["masks_key"],
        output_key=row["output_key"],
        output_size=row["output_size"],
        stage_started=started,
        finished_at=row["finished_at"],
        tracker_backend=row["tracker_backend"],
        review=(
            None
            if row["review"] is None
            else tuple(ReviewRange.model_validate(r) for r in row["review"])
        ),
    )


def _job_from(row: asyncpg.Record) -> JobRow:
    return JobRow(
        id=row["id"],
        access_token_hash=row["access_token_hash"],
        state=_state_from(row),
        mode=row["mode"],
        effect=row["effect"],
        upload_key=row["upload_key"],
        video=row["video"],
        tier=row["tier"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


async def find_api_key(pool: asyncpg.Pool, key_hash: str) -> ApiKey | None:
    row = await pool.fetchrow(
        "SELECT id, name, tier, videos_per_month FROM api_keys"
        " WHERE key_hash = $1 AND revoked_at IS NULL",
        key_hash,
    )
    return (
        None
        if row is None
        else ApiKey(row["id"], row["name"], row["tier"], row["videos_per_month"])
    )


async def insert_api_key(
    pool: asyncpg.Pool, key_id: UUID, key_hash: str, name: str, videos_per_month: int | None
) -> None:
    await pool.execute(
        "INSERT INTO api_keys (id, key_hash, name, tier, videos_per_month)"
        " VALUES ($1, $2, $3, 'pro', $4)",
        key_id,
        key_hash,
        name,
        videos_per_month,
    )


async def insert_upload(
    pool: asyncpg.Pool,
    key: str,
    content_type: str,
    size: int,
    subject: str,
    expires_at: datetime,
    unused_per_hour: int | None = None,
) -> bool:
    """Record a presigned upload; False (nothing recorded) when ``subject`` already holds
    ``unused_per_hour`` uploads without a job presigned in the last hour."""
    inserted = await pool.fetchval(
        "INSERT INTO uploads (key, content_type, size_bytes, subject, expires_at)"
        " SELECT $1, $2, $3, $4, $5 WHERE $6::int IS NULL OR ("
        "  SELECT count(*) FROM uploads WHERE subject = $4 AND job_id IS NULL"
        "  AND created_at > now() - interval '1 hour') < $6::int"
        " RETURNING true",
        key,
        content_type,
        size,
        subject,
        expires_at,
        unused_per_hour,
    )
    return bool(inserted)


async def find_upload(pool: asyncpg.Pool, key: str) -> UploadRow | None:
    row = await pool.fetchrow(
        "SELECT key, content_type, size_bytes, subject, expires_at, job_id FROM uploads"
        " WHERE key = $1",
        key,
    )
    if row is None:
        return None
    return UploadRow(
        row["key"],
        row["content_type"],
        row["size_bytes"],
        row["subject"],
        row["expires_at"],
        row["job_id"],
    )


async def videos_used(pool: asyncpg.Pool, subject: str, month: date) -> int:
    used = await pool.fetchval(
        "SELECT videos FROM usage_tracking WHERE subject = $1 AND month = $2", subject, month
    )
    return int(used or 0)


async def create_job(
    pool: asyncpg.Pool,
    job: NewJob,
    *,
    subject: str,
    month: date,
    quota: int,
    claim: str | None,
    topic: str,
    key: bytes,
    event: dict[str, Any],
) -> None:
    """Job row, quota use, the claim of upload ``claim`` and the outbox event: all or
    nothing. ``job.upload_key`` is the job's own pinned copy of that upload. ``claim``
    None: a job that renders another job's stored masks again (no upload to claim)."""
    async with pool.acquire() as conn, conn.transaction():
        await _use_quota(conn, subject, month, quota)
        if claim is not None:
            claimed = await conn.fetchval(
                "UPDATE uploads SET job_id = $1 WHERE key = $2 AND job_id IS NULL RETURNING key",
                job.id,
                claim,
            )
            if claimed is None:
                raise UploadAlreadyUsed
        await _insert_job_and_event(conn, job, topic, key, event)


async def _use_quota(conn: asyncpg.Connection, subject: str, month: date, quota: int) -> None:
    """One more job of ``subject`` in ``month``, in the caller's transaction, or
    ``QuotaExceeded`` when it has ``quota`` already (the row is only bumped below it)."""
    used = await conn.fetchval(
        "INSERT INTO usage_tracking AS u (subject, month, videos) VALUES ($1, $2, 1)"
        " ON CONFLICT (subject, month) DO UPDATE SET videos = u.videos + 1"
        " WHERE u.videos < $3 RETURNING videos",
        subject,
        month,
        quota,
    )
    if used is None or used > quota:
        raise QuotaExceeded


async def _insert_job_and_event(
    conn: asyncpg.Connection, job: NewJob, topic: str, key: bytes, event: dict[str, Any]
) -> None:
    """The job row and its event in the outbox, in the caller's transaction."""
    await conn.execute(
        "INSERT INTO jobs (id, access_token_hash, status, stage, percent, mode, effect, points,"
        " upload_key, video, client_ip, api_key_id, tier, expires_at, stage_started)"
        " VALUES ($1, $2, 'pending', 'queued', 0, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " jsonb_build_object('queued', now()))",
        job.id,
        job.access_token_hash,
        job.mode,
        job.effect,
        job.points,
        job.upload_key,
        job.video,
        job.client_ip,
        job.api_key_id,
        job.tier,
        job.expires_at,
    )
    await conn.execute(
        "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)", topic, key, event
    )
    await conn.execute("NOTIFY tapmask_outbox")


async def get_job(pool: asyncpg.Pool, job_id: UUID) -> JobRow | None:
    row = await pool.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return None if row is None else _job_from(row)


def _stage_started_json(state: JobState) -> dict[str, str]:
    return {stage.value: at.isoformat() for stage, at in state.stage_started}


async def project_event(
    conn: asyncpg.Connection,
    event_id: UUID,
    job_id: UUID,
    apply: Any,
) -> tuple[JobState, JobState] | None:
    """Apply one event to its job exactly once (by event_id) in the caller's transaction.

    `apply(state) -> new state | None`. Returns (before, after) when the job changed.
    """
    first_time = await conn.fetchval(
        "INSERT INTO processed_events (event_id, job_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        event_id,
        job_id,
    )
    if not first_time:
        return None
    row = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1 FOR UPDATE", job_id)
    if row is None:
        return None  # not one of ours (or already purged)
    before = _state_from(row)
    after = apply(before)
    if after is None:
        await conn.execute("UPDATE jobs SET last_event_at = now() WHERE id = $1", job_id)
        return None
    await conn.execute(
        "UPDATE jobs SET status = $2, stage = $3, percent = $4, error = $5, masks_key = $6,"
        " output_key = $7, output_size = $8, stage_started = $9, finished_at = $10,"
        " tracker_backend = $11, review = $12, updated_at = now(), last_event_at = now()"
        " WHERE id = $1",
        job_id,
        after.status.value,
        after.stage.value,
        after.percent,
        after.error,
        after.masks_key,
        after.output_key,
        after.output_size,
        _stage_started_json(after),
        after.finished_at,
        after.tracker_backend,
        None if after.review is None else [r.model_dump() for r in after.review],
    )
    return before, after


async def claim_outbox(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Unsent outbox rows, locked so another relay replica skips them."""
    return list(
        await conn.fetch(
            "SELECT id, topic, key, payload FROM outbox WHERE sent_at IS NULL"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
    )


async def mark_sent(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", ids)


async def expired_jobs(pool: asyncpg.Pool, now: datetime, limit: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT id, upload_key, masks_key, output_key, status,"
            " (SELECT u.key FROM uploads u WHERE u.job_id = jobs.id LIMIT 1) AS claimed_key"
            " FROM jobs"
            " WHERE expires_at <= $1 AND status <> 'expired' ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
    )


async def claim_expired_jobs(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    """Due jobs, locked for the caller's transaction; rows another replica is expiring
    right now are skipped, not waited for or done twice."""
    return list(
        await conn.fetch(
            "SELECT id, upload_key, masks_key, output_key, status,"
            " (SELECT u.key FROM uploads u WHERE u.job_id = jobs.id LIMIT 1) AS claimed_key"
            " FROM jobs WHERE expires_at <= $1 AND status <> 'expired'"
            " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
    )


async def expire_jobs(conn: asyncpg.Connection, job_ids: list[UUID]) -> None:
    """Mark the jobs expired and forget what the user gave beyond the job itself: the
    client address, the clicks, the upload row."""
    await conn.execute(
        "UPDATE jobs SET status = 'expired', updated_at = now(), client_ip = '',"
        " points = '[]'::jsonb WHERE id = ANY($1::uuid[])",
        job_ids,
    )
    await conn.execute("DELETE FROM uploads WHERE job_id = ANY($1::uuid[])", job_ids)


async def prune_usage(pool: asyncpg.Pool, before: date) -> None:
    """Monthly counts older than ``before`` (only the current month's quota is checked)."""
    await pool.execute("DELETE FROM usage_tracking WHERE month < $1", before)


async def prune_sent_outbox(pool: asyncpg.Pool, before: datetime) -> None:
    await pool.execute("DELETE FROM outbox WHERE sent_at < $1", before)


async def mark_expired(pool: asyncpg.Pool, job_id: UUID) -> None:
    await pool.execute(
        "UPDATE jobs SET status = 'expired', updated_at = now() WHERE id = $1", job_id
    )


async def expired_unused_uploads(pool: asyncpg.Pool, now: datetime, limit: int) -> list[str]:
    rows = await pool.fetch(
        "SELECT key FROM uploads WHERE job_id IS NULL AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2",
        now,
        limit,
    )
    return [r["key"] for r in rows]


async def delete_upload_rows(pool: asyncpg.Pool, keys: list[str]) -> None:
    await pool.execute("DELETE FROM uploads WHERE key = ANY($1::text[]) AND job_id IS NULL", keys)


async def jobs_by_status(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT status, count(*) AS n FROM jobs GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


async def prune_bookkeeping(pool: asyncpg.Pool, keep_days: int) -> None:
    """Forget event ids and sent outbox rows older than any redelivery could be."""
    await pool.execute(
        "DELETE FROM processed_events WHERE processed_at < now() - make_interval(days => $1)",
        keep_days,
    )
    await pool.execute(
        "DELETE FROM outbox WHERE sent_at < now() - make_interval(days => $1)", keep_days
    )


async def cancel_job(
    pool: asyncpg.Pool,
    job_id: UUID,
    *,
    running: list[str],
    reason: str,
    topic: str,
    key: bytes,
    event_for: Callable[[str, float], dict[str, Any]],
) -> bool:
    """Mark a job in one of the ``running`` statuses cancelled, with its progress event
    (``event_for(stage, percent)``) in the outbox, in one transaction. False when the job
    had already finished (nothing changed)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE jobs SET status = 'cancelled', error = $3, finished_at = now(),"
            " updated_at = now() WHERE id = $1 AND status = ANY($2::text[])"
            " RETURNING stage, percent",
            job_id,
            running,
            reason,
        )
        if row is None:
            return False
        await conn.execute(
            "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)",
            topic,
            key,
            event_for(row["stage"], float(row["percent"])),
        )
        await conn.execute("NOTIFY tapmask_outbox")
        return True


class PostgresJobs:
    """The job repository port (``usecases.ports.JobRepository``) on this module's queries.

    ``wake`` is the outbox relay's: set after every commit that put an event in the outbox,
    so the event leaves at once instead of at the relay's next poll."""

    def __init__(self, pool: asyncpg.Pool, wake: asyncio.Event) -> None:
        self.pool = pool
        self.wake = wake

    async def find_upload(self, key: str) -> UploadRow | None:
        return await find_upload(self.pool, key)

    async def videos_used(self, subject: str, month: date) -> int:
        return await videos_used(self.pool, subject, month)

    async def get_job(self, job_id: UUID) -> JobRow | None:
        return await get_job(self.pool, job_id)

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
        await create_job(
            self.pool,
            job,
            subject=subject,
            month=month,
            quota=quota,
            claim=claim,
            topic=topic,
            key=key_for(job.id),
            event=event.model_dump(mode="json"),
        )
        self.wake.set()

    async def cancel(
        self,
        job_id: UUID,
        *,
        running: list[JobStatus],
        reason: str,
        event_for: Callable[[Stage, float], JobProgress],
    ) -> bool:
        done = await cancel_job(
            self.pool,
            job_id,
            running=[s.value for s in running],
            reason=reason,
            topic=JOB_PROGRESS,
            key=key_for(job_id),
            event_for=lambda stage, percent: event_for(Stage(stage), percent).model_dump(
                mode="json"
            ),
        )
        if done:
            self.wake.set()
        return done


class PostgresUploads:
    """The upload repository port (``usecases.ports.UploadRepository``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def find_upload(self, key: str) -> UploadRow | None:
        return await find_upload(self.pool, key)

    async def add_upload(
        self,
        key: str,
        content_type: str,
        size: int,
        subject: str,
        expires_at: datetime,
        unused_per_hour: int,
    ) -> bool:
        return await insert_upload(
            self.pool, key, content_type, size, subject, expires_at, unused_per_hour
        )
