"""Where a worker reads its inputs and writes its outputs: the ``ObjectStore`` port and its S3
adapter (the gateway has its own, presigning-capable adapter: tapmask_gateway.adapters.s3)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from tapmask_runtime.attempts import SmallObjects
from tapmask_runtime.errors import ObjectMissingError


class ObjectStore(SmallObjects, Protocol):
    """The object storage a worker reads inputs from and writes outputs to (and keeps
    its durable attempt counts in)."""

    async def download(self, key: str, path: Path) -> None: ...

    async def upload(self, path: Path, key: str, metadata: dict[str, str]) -> None: ...

    async def metadata(self, key: str) -> dict[str, str] | None:
        """The object's user metadata, or None when it does not exist."""
        ...


def _is_missing(exc: Any) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


class S3ObjectStore:
    """``ObjectStore`` over a boto3 S3 client: streaming, multipart transfers."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    async def download(self, key: str, path: Path) -> None:
        from botocore.exceptions import ClientError

        try:
            # download_file streams to disk in chunks: never the whole object in memory.
            await asyncio.to_thread(self._client.download_file, self._bucket, key, str(path))
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectMissingError(f"s3://{self._bucket}/{key} does not exist") from exc
            raise

    async def upload(self, path: Path, key: str, metadata: dict[str, str]) -> None:
        # upload_file switches to multipart above its threshold; the object appears
        # atomically when the upload completes, so a crash never leaves half an output.
        await asyncio.to_thread(
            self._client.upload_file,
            str(path),
            self._bucket,
            key,
            ExtraArgs={"Metadata": metadata},
        )

    async def metadata(self, key: str) -> dict[str, str] | None:
        from botocore.exceptions import ClientError

        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return {k.lower(): v for k, v in head.get("Metadata", {}).items()}

    async def read_bytes(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            obj = await asyncio.to_thread(self._client.get_object, Bucket=self._bucket, Key=key)
            body: bytes = await asyncio.to_thread(obj["Body"].read)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return body

    async def write_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._client.put_object, Bucket=self._bucket, Key=key, Body=data)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=key)
