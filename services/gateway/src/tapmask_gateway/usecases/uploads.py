"""Uploads: hand a client a presigned upload for one video, and find the upload it owns.

Over the ports of ``ports.py``, like ``jobs.py``: every refusal is a unit test with fakes
(``tests/unit/gateway/test_gateway_usecases.py``), the store and database only in the
integration tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID, uuid4

from tapmask_gateway.domain.clients import Client
from tapmask_gateway.domain.records import UploadRow
from tapmask_gateway.domain.uploads import UploadRejected, check_upload, upload_key
from tapmask_gateway.settings import Settings
from tapmask_gateway.usecases.errors import Refusal, Refused
from tapmask_gateway.usecases.ports import PresignedPost, UploadRepository, UploadStore

#: How each kind of refused upload request is answered (``domain.uploads.UploadRejected``).
_REJECTED: Final[dict[str, Refusal]] = {
    "type": Refusal.UNSUPPORTED,
    "too_large": Refusal.TOO_LARGE,
    "invalid": Refusal.MALFORMED,
}


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    key: str
    expires_in: int
    post: PresignedPost


class UploadService:
    """The upload use cases of one gateway, over its ports (clock and ids passed in)."""

    def __init__(
        self,
        repo: UploadRepository,
        store: UploadStore,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self.repo = repo
        self.store = store
        self.settings = settings
        self.clock = clock
        self.new_id = new_id

    async def presign(
        self, client: Client, filename: str, content_type: str, size: int
    ) -> PresignedUpload:
        """Where the browser sends one video: the key is the server's, and the store refuses
        a body of another size, type or key (the POST policy pins all three)."""
        try:
            ext, ctype = check_upload(
                filename, content_type, size, self.settings.limits.max_upload_bytes
            )
        except UploadRejected as exc:
            raise Refused(_REJECTED[exc.kind], str(exc), reason="bad_upload") from exc
        key = upload_key(self.new_id(), ext)
        limits = self.settings.quotas.of(client.tier)
        hours, unused = limits.retention_hours, limits.unused_uploads_per_hour
        recorded = await self.repo.add_upload(
            key,
            ctype,
            size,
            client.subject,
            self.clock() + timedelta(hours=hours),
            unused_per_hour=unused,
        )
        if not recorded:
            raise Refused(
                Refusal.TOO_MANY,
                f"{unused} uploads without a job in the last hour: start a job with one of "
                "them, or try again later",
                reason="unused_uploads",
                retry_after_s=600,
            )
        expires_in = self.settings.upload_expiry_s
        post = await self.store.presign_upload(key, ctype, size, expires_in)
        return PresignedUpload(key, expires_in, post)

    async def owned(self, client: Client, key: str) -> UploadRow:
        """The upload ``key`` when it is this client's and its file has arrived (what the
        frame and mask previews read)."""
        upload = await self.repo.find_upload(key)
        if upload is None or upload.subject != client.subject:
            raise Refused(
                Refusal.NOT_FOUND, "no such upload for this browser: upload the video again"
            )
        if await self.store.size(upload.key) is None:
            raise Refused(
                Refusal.CONFLICT,
                "the video has not finished uploading yet: wait for the upload",
            )
        return upload
