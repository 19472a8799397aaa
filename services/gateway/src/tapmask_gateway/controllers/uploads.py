"""POST /api/upload/presigned: where and how the browser uploads its video."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.controllers.deps import ClientDep, MetricsDep, UploadsDep, http_refusals
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
        uploads: UploadsDep,
        metrics: MetricsDep,
        client: ClientDep,
    ) -> PresignResponse:
        """The store refuses a body of another size, type or key (a POST policy pins all three)."""
        with http_refusals(metrics):
            presigned = await uploads.presign(client, data.filename, data.content_type, data.size)
        return PresignResponse(
            upload_key=presigned.key,
            expires_in=presigned.expires_in,
            url=presigned.post.url,
            fields=presigned.post.fields,
        )
