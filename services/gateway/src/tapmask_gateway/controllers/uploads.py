"""POST /api/upload/presigned: where and how the browser uploads its video."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import anyio.to_thread
from litestar import Controller, post
from litestar.params import JSONBody
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.adapters import db
from tapmask_gateway.controllers.deps import (
    ClientDep,
    DbPoolDep,
    MetricsDep,
    Problem,
    S3Dep,
    SettingsDep,
)
from tapmask_gateway.domain.quotas import Tier
from tapmask_gateway.domain.uploads import UploadRejected, check_upload, upload_key
from tapmask_schemas.jobs import Integer


class PresignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, description="Name of the user's file.")
    content_type: str = Field(min_length=1, max_length=100, examples=["video/mp4"])
    # Not gt=0 here: an empty file gets its own words (check_upload), not "validation failed".
    size: Integer = Field(description="Exact size of the file in bytes.")


class PresignResponse(BaseModel):
    upload_key: str = Field(description="Pass it to POST /api/jobs once the upload is done.")
    expires_in: int = Field(description="Seconds the upload URL stays valid.")
    url: str = Field(description="POST a multipart form here: `fields` first, then `file`.")
    fields: dict[str, str]
    method: str = "POST"


class UploadController(Controller):
    path = "/api/upload"
    tags = ["uploads"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/presigned", status_code=200, summary="Get a presigned upload for one video")
    async def presign(
        self,
        data: JSONBody[PresignRequest],
        settings: SettingsDep,
        metrics: MetricsDep,
        db_pool: DbPoolDep,
        s3: S3Dep,
        client: ClientDep,
    ) -> PresignResponse:
        """The store refuses a body of another size, type or key (a POST policy pins all three)."""
        try:
            ext, ctype = check_upload(
                data.filename, data.content_type, data.size, settings.limits.max_upload_bytes
            )
        except UploadRejected as exc:
            metrics.rejected.labels("bad_upload").inc()
            status = {"type": 415, "too_large": 413, "invalid": 400}[exc.kind]
            raise Problem(status, str(exc)) from exc
        key = upload_key(uuid4(), ext)
        expires_in = settings.upload_expiry_s
        quotas = settings.quotas
        hours = (
            quotas.pro_retention_hours if client.tier is Tier.PRO else quotas.free_retention_hours
        )
        unused = (
            quotas.pro_unused_uploads_per_hour
            if client.tier is Tier.PRO
            else quotas.free_unused_uploads_per_hour
        )
        recorded = await db.insert_upload(
            db_pool,
            key,
            ctype,
            data.size,
            client.subject,
            datetime.now(UTC) + timedelta(hours=hours),
            unused_per_hour=unused,
        )
        if not recorded:
            metrics.rejected.labels("unused_uploads").inc()
            raise Problem(
                429,
                f"{unused} uploads without a job in the last hour: start a job with one of "
                "them, or try again later",
                headers={"Retry-After": "600"},
            )
        post_ = await anyio.to_thread.run_sync(s3.presign_upload, key, ctype, data.size, expires_in)
        return PresignResponse(
            upload_key=key, expires_in=expires_in, url=post_.url, fields=post_.fields
        )
