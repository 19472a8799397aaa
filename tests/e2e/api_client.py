"""What an HTTP client of the running system does around a job, written once for the
end-to-end tests: store a video through a presigned POST, and fetch a finished job's result
through its presigned link."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def upload(api: httpx.AsyncClient, filename: str, data: bytes) -> str:
    """``data`` stored as ``filename`` (an MP4) the way the web app does it: a presigned POST
    from the gateway, then the bytes straight to the store. Returns the upload key."""
    presign = await api.post(
        "/api/upload/presigned",
        json={"filename": filename, "content_type": "video/mp4", "size": len(data)},
    )
    assert presign.status_code == 200, presign.text
    target = presign.json()
    async with httpx.AsyncClient(timeout=60) as store:
        sent = await store.post(
            target["url"], data=target["fields"], files={"file": (filename, data, "video/mp4")}
        )
    assert sent.status_code in (200, 201, 204), sent.text
    return str(target["upload_key"])


async def download_result(api: httpx.AsyncClient, job: dict[str, Any]) -> httpx.Response:
    """The finished ``job``'s result video, fetched through its presigned download link.
    The notifier may say "completed" a moment before the gateway's projection does, so the
    link is asked for again while the gateway answers 409."""
    auth = {"Authorization": f"Bearer {job['access_token']}"}
    async with asyncio.timeout(30):
        while True:
            link = await api.get(f"/api/jobs/{job['job_id']}/download", headers=auth)
            if link.status_code != 409:
                break
            await asyncio.sleep(0.2)
    assert link.status_code == 200, link.text
    async with httpx.AsyncClient(timeout=60) as browser:
        return await browser.get(link.json()["url"])
