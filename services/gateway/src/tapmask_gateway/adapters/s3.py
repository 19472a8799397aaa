"""S3 through boto3: presigned uploads/downloads, object checks, downloads for probing.

boto3 is blocking: callers run these in a worker thread (anyio.to_thread).
Presigning needs no network, and is done with a client whose endpoint is the
public one, so URLs handed to browsers point at an address they can reach.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from botocore.exceptions import ClientError

# The values and errors of the upload store port, re-exported for this module's callers.
from tapmask_gateway.usecases.ports import PresignedPost as PresignedPost
from tapmask_gateway.usecases.ports import UploadChanged as UploadChanged
from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import S3Settings
from tapmask_schemas.keys import MEDIA_PREFIXES

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef


def _precondition_failed(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "412") or status == 412


class GatewayS3:
    """The gateway's S3: presigning uploads and downloads, pinning an upload to its job,
    lifecycle rules and expiry, all blocking boto3 calls (callers use a thread). Not the
    workers' async ``tapmask_runtime.object_store.ObjectStore``, which only moves files."""

    def __init__(self, settings: S3Settings) -> None:
        self.bucket = settings.bucket
        self.client = make_s3_client(settings)
        self.public = make_s3_client(settings, public=True)

    def presign_upload(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> PresignedPost:
        """A POST policy pinning the key, the content type and the exact length."""
        post = self.public.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", size, size],
            ],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))

    def presign_download(self, key: str, filename: str, expires_in: int) -> str:
        return self.public.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )

    def _head(self, key: str) -> HeadObjectOutputTypeDef | None:
        """The object's HEAD response, or None when it does not exist."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head

    def object_size(self, key: str) -> int | None:
        """Size in bytes, or None when the object does not exist."""
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def size_and_etag(self, key: str) -> tuple[int, str] | None:
        """Size in bytes and ETag from one HEAD, or None when the object does not exist."""
        head = self._head(key)
        return None if head is None else (int(head["ContentLength"]), str(head["ETag"]))

    def etag(self, key: str) -> str | None:
        """The object's ETag (changes whenever its bytes do), or None when it is missing."""
        head = self._head(key)
        return None if head is None else str(head["ETag"])

    def download(self, key: str, dest: Path, if_match: str | None = None) -> None:
        """Streamed to disk in chunks (never whole into memory); with ``if_match`` only
        those bytes (else ``UploadChanged``)."""
        if if_match is None:
            self.client.download_file(self.bucket, key, str(dest))
            return
        try:
            # One GET (download_file's ranged GETs take no IfMatch), streamed to disk.
            body = self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=if_match)["Body"]
            with dest.open("wb") as fh:
                for chunk in body.iter_chunks(1024 * 1024):
                    fh.write(chunk)
        except ClientError as exc:
            if _precondition_failed(exc):
                raise UploadChanged(key) from exc
            raise

    def pin(self, key: str, dest: str, etag: str) -> None:
        """Copy ``key`` to ``dest`` inside the store only if it still has ``etag``: the
        bytes that were checked, never a later re-upload (``UploadChanged``)."""
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=dest,
                CopySource={"Bucket": self.bucket, "Key": key},
                CopySourceIfMatch=etag,
            )
        except ClientError as exc:
            if _precondition_failed(exc):
                raise UploadChanged(key) from exc
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        """A tiny object (a marker), written whole."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            if chunk:
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )

    def abort_stale_multipart(self, before: datetime) -> int:
        """Abort multipart uploads begun before ``before`` (a worker that died while
        storing a result leaves its parts, users' video, behind); returns how many."""
        aborted = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        try:
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < before:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "AccessDenied":
                raise
            # Not this role's to do: the bucket's own lifecycle rule aborts them
            # (deploy/terraform/s3.tf); the rest of the cleanup must still run.
        return aborted

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def put_cors(self, origins: list[str]) -> str:
        """Let browsers on `origins` POST uploads and GET results straight from the bucket."""
        rule: Any = {
            "AllowedOrigins": origins,
            "AllowedMethods": ["GET", "HEAD", "POST", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }
        try:
            self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": [rule]})
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            return f"CORS rule not accepted by the store ({code})"
        return f"CORS rule set for {', '.join(origins)}"

    def put_lifecycle(self, free_days: int, pro_days: int) -> str:
        """Expire objects in the store itself where it supports lifecycle rules.

        Objects carry no tier, so the store deletes everything after the longest
        retention (pro); the cleanup task enforces the shorter free one. Returns
        what happened, for the start-up log.
        """
        rules: list[Any] = [
            {
                "ID": f"tapmask-{prefix.rstrip('/')}",
                "Filter": {"Prefix": prefix},
                "Status": "Enabled",
                "Expiration": {"Days": max(free_days, pro_days)},
            }
            for prefix in MEDIA_PREFIXES
        ]
        try:
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": rules}
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            return f"not supported by the store ({code}); the cleanup task deletes expired files"
        return "lifecycle rules set"


class S3Uploads:
    """The upload store port (``usecases.ports.UploadStore``) on ``GatewayS3``, each blocking
    boto3 call in a worker thread so the event loop keeps serving."""

    def __init__(self, s3: GatewayS3) -> None:
        self.s3 = s3

    async def size(self, key: str) -> int | None:
        return await anyio.to_thread.run_sync(self.s3.object_size, key)

    async def head(self, key: str) -> tuple[int, str] | None:
        return await anyio.to_thread.run_sync(self.s3.size_and_etag, key)

    async def pin(self, key: str, dest: str, etag: str) -> None:
        await anyio.to_thread.run_sync(self.s3.pin, key, dest, etag)

    async def delete(self, keys: list[str]) -> None:
        await anyio.to_thread.run_sync(self.s3.delete, keys)

    async def put_marker(self, key: str) -> None:
        await anyio.to_thread.run_sync(self.s3.put_bytes, key, b"{}")

    async def presign_upload(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> PresignedPost:
        return await anyio.to_thread.run_sync(
            self.s3.presign_upload, key, content_type, size, expires_in
        )

    async def presign_download(self, key: str, filename: str, expires_in: int) -> str:
        return await anyio.to_thread.run_sync(self.s3.presign_download, key, filename, expires_in)
