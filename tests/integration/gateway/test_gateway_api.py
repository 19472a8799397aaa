"""The gateway against real Kafka, PostgreSQL and S3: uploads, job creation, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from gateway_harness import (
    VIDEOS,
    Served,
    create_job,
    eventually,
    next_job_created,
    running_gateway,
    upload,
)

from tapmask_gateway.settings import Settings, VideoLimits
from tapmask_schemas import JobCreated

pytestmark = pytest.mark.integration


async def test_a_real_clip_becomes_a_job_and_its_event_reaches_kafka(
    gateway: Served, kafka_bootstrap: str
) -> None:
    clip = VIDEOS / "04_coffee.mp4"
    async with gateway.client() as client:
        key = await upload(client, clip)
        assert key.startswith("uploads/") and key.endswith(".mp4")
        created = await create_job(client, key, 880, 507, effect="pixelate")
        assert created.status_code == 201, created.text
        body = created.json()
        job_id = UUID(body["job_id"])
        assert body["status"] == "pending"
        assert body["events_url"] == f"/api/jobs/{job_id}/events?token={body['access_token']}"

        event, kafka_key = await next_job_created(kafka_bootstrap, job_id)
        assert isinstance(event, JobCreated)
        assert kafka_key == str(job_id).encode()
        # The job reads its own copy of the bytes that were checked.
        assert event.upload_key == f"inputs/{job_id}.mp4"
        assert gateway.s3.object_size(event.upload_key) == clip.stat().st_size
        assert event.mode == "privacy" and event.effect == "pixelate"
        assert (event.points[0].x, event.points[0].y, event.points[0].frame) == (880, 507, 0)
        assert (event.video.width, event.video.height) == (1280, 720)
        assert event.video.frame_count == 287  # as the manifest says
        assert event.video.has_audio

        got = await client.get(
            f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert got.status_code == 200, got.text
        job = got.json()
        assert (job["status"], job["stage"], job["percent"]) == ("pending", "queued", 0)
        assert job["video"]["frame_count"] == 287
        assert job["download_url"] is None
        # The same row as stored, and the outbox row went out.
        row = await gateway.db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        assert row["upload_key"] == event.upload_key
        assert row["mode"] == "privacy" and row["tier"] == "free"
        # The relay marks the outbox row sent once Kafka acknowledged it.
        await eventually(
            lambda: gateway.db.fetchval(
                "SELECT sent_at IS NOT NULL FROM outbox WHERE payload->>'job_id' = $1", str(job_id)
            )
        )

        # One upload, one job: it cannot be used again.
        again = await create_job(client, key, 880, 507)
        assert again.status_code == 409
        assert "already used" in again.json()["detail"]


async def test_the_store_refuses_a_body_other_than_the_presigned_one(gateway: Served) -> None:
    async with gateway.client() as client:
        presign = await client.post(
            "/api/upload/presigned",
            json={"filename": "a.mp4", "content_type": "video/mp4", "size": 1000},
        )
        assert presign.status_code == 200
        body = presign.json()
        assert body["expires_in"] <= 900
        fields = body["fields"]
        async with httpx.AsyncClient() as store:
            bigger = await store.post(
                body["url"], data=fields, files={"file": ("a.mp4", b"x" * 1001, "video/mp4")}
            )
            assert bigger.status_code == 400 and "EntityTooLarge" in bigger.text
            other_key = await store.post(
                body["url"],
                data=fields | {"key": "outputs/someone-elses.mp4"},
                files={"file": ("a.mp4", b"x" * 1000, "video/mp4")},
            )
            assert other_key.status_code == 403
            html = await store.post(
                body["url"],
                data=fields | {"Content-Type": "text/html"},
                files={"file": ("a.mp4", b"x" * 1000, "text/html")},
            )
            assert html.status_code == 403
        assert gateway.s3.object_size(body["upload_key"]) is None
        assert gateway.s3.object_size("outputs/someone-elses.mp4") is None


@pytest.mark.parametrize(
    ("request_body", "status", "message"),
    [
        ({"filename": "notes.txt", "content_type": "text/plain", "size": 10}, 415, "'.txt'"),
        ({"filename": "a.mp4", "content_type": "video/mp4", "size": 10**12}, 413, "the limit"),
        (
            {"filename": "a.mp4", "content_type": "video/mp4", "size": 10, "key": "x"},
            400,
            "key",
        ),
    ],
)
async def test_bad_upload_requests_are_refused_up_front(
    gateway: Served, request_body: dict[str, Any], status: int, message: str
) -> None:
    async with gateway.client() as client:
        got = await client.post("/api/upload/presigned", json=request_body)
    assert got.status_code == status, got.text
    assert message in got.text


async def test_each_bad_job_request_gets_a_4xx_naming_the_problem(
    gateway: Served, clips: dict[str, Path]
) -> None:
    async with gateway.client() as client:
        good = await upload(client, clips["small"])

        unknown_field = await create_job(client, good, status="completed")
        assert unknown_field.status_code == 400 and "status" in unknown_field.text

        bad_mode = await create_job(client, good, processing_mode="sharpen")
        assert bad_mode.status_code == 400 and "processing_mode" in bad_mode.text

        missing = await create_job(client, f"uploads/{uuid4()}.mp4")
        assert missing.status_code == 404 and "no upload" in missing.json()["detail"]

        outside = await create_job(client, good, 64, 10)
        assert outside.status_code == 422
        assert outside.json()["detail"] == "click (64, 10) is outside the 64x48 frame"
        late = await create_job(client, good, 10, 10, frame=20)
        assert late.status_code == 422 and "past the end of the video (20 frames)" in late.text

        text = await create_job(client, await upload(client, clips["text"]))
        assert text.status_code == 422 and "not a video file" in text.json()["detail"]

        truncated = await create_job(client, await upload(client, clips["truncated"]))
        assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"]
        assert str(Path("/tmp")) not in truncated.json()["detail"]  # no server paths leak

        # Presigned but never sent.
        presign = await client.post(
            "/api/upload/presigned",
            json={"filename": "a.mp4", "content_type": "video/mp4", "size": 1234},
        )
        never_sent = await create_job(client, presign.json()["upload_key"])
        assert never_sent.status_code == 409 and "not been uploaded" in never_sent.text

        # Another client's upload is not yours to use.
        async with gateway.client() as other:
            stolen = await create_job(other, good)
        assert stolen.status_code == 404

        # A store that let a different size through is caught at job creation.
        data = clips["small"].read_bytes()
        presign = await client.post(
            "/api/upload/presigned",
            json={"filename": "a.mp4", "content_type": "video/mp4", "size": len(data) + 10},
        )
        key = presign.json()["upload_key"]
        gateway.s3.client.put_object(Bucket=gateway.s3.bucket, Key=key, Body=data)
        mismatch = await create_job(client, key)
        assert mismatch.status_code == 422
        assert mismatch.json()["detail"] == (
            f"the upload is {len(data)} bytes but {len(data) + 10} were announced"
        )

        # And after all that, the good upload still makes a job.
        ok = await create_job(client, good)
        assert ok.status_code == 201, ok.text


async def test_lowered_limits_refuse_long_and_big_videos(
    make_settings: Callable[..., Settings], clips: dict[str, Path]
) -> None:
    limits = VideoLimits(max_duration_s=3.0, max_pixels=60 * 40, max_upload_bytes=50_000)
    small_limits = VideoLimits(max_duration_s=3.0, max_upload_bytes=50_000)
    strict = make_settings(limits=limits, run_background=False)
    async with running_gateway(strict) as served, served.client() as client:
        too_big_pixels = await create_job(client, await upload(client, clips["small"]))
        assert too_big_pixels.status_code == 422
        assert "64x48 pixels per frame is more than the 2400 allowed" in too_big_pixels.text

        too_big_file = await client.post(
            "/api/upload/presigned",
            json={"filename": "a.mp4", "content_type": "video/mp4", "size": 50_001},
        )
        assert too_big_file.status_code == 413
        assert "50001 bytes; the limit is 50000" in too_big_file.text
    short = make_settings(limits=small_limits, run_background=False)
    async with running_gateway(short) as served, served.client() as client:
        too_long = await create_job(client, await upload(client, clips["long"]))
        assert too_long.status_code == 422
        assert "4 s long, more than the 3 s allowed" in too_long.json()["detail"]
        fine = await create_job(client, await upload(client, clips["small"]))
        assert fine.status_code == 201


async def test_a_job_id_alone_opens_nothing(gateway: Served, clips: dict[str, Path]) -> None:
    async with gateway.client() as alice, gateway.client() as bob:
        a = (await create_job(alice, await upload(alice, clips["small"]))).json()
        b = (await create_job(bob, await upload(bob, clips["small"]))).json()
        url_a = f"/api/jobs/{a['job_id']}"
        assert (await bob.get(url_a)).status_code == 404
        wrong = await bob.get(url_a, headers={"Authorization": f"Bearer {b['access_token']}"})
        assert wrong.status_code == 404
        nobody = await bob.get(
            f"/api/jobs/{uuid4()}", headers={"Authorization": f"Bearer {b['access_token']}"}
        )
        assert nobody.json()["detail"] == wrong.json()["detail"]  # indistinguishable
        assert (
            await bob.get(f"{url_a}/download", params={"token": b["access_token"]})
        ).status_code == 404
        assert (
            await bob.get(f"{url_a}/events", params={"token": b["access_token"]})
        ).status_code == 404
        # With the right token, events are forwarded to the notifier (not running here).
        no_notifier = await alice.get(f"{url_a}/events", params={"token": a["access_token"]})
        assert no_notifier.status_code == 503
        assert "progress service is unreachable" in no_notifier.json()["detail"]
        own = await alice.get(url_a, headers={"Authorization": f"Bearer {a['access_token']}"})
        assert own.status_code == 200 and own.json()["job_id"] == a["job_id"]
        early = await alice.get(f"{url_a}/download", params={"token": a["access_token"]})
        assert early.status_code == 409 and "once it is completed" in early.text
        assert early.headers["retry-after"] == "1"  # still running: ask again shortly


async def test_a_token_in_the_address_only_opens_the_event_stream_and_downloads(
    gateway: Served, clips: dict[str, Path]
) -> None:
    """Issue 18: ?token= was accepted everywhere, cancel included; a token in an address
    ends up in histories and proxy logs. Only where a browser cannot send a header (the
    EventSource stream, a download) is it still accepted."""
    async with gateway.client() as alice:
        job = (await create_job(alice, await upload(alice, clips["small"]))).json()
        url = f"/api/jobs/{job['job_id']}"
        query = {"token": job["access_token"]}
        words = "?token= in the address is accepted only by the event stream and the downloads"
        for method, path, body in (
            ("GET", url, None),
            ("POST", f"{url}/cancel", None),
            ("POST", f"{url}/render", {"processing_mode": "privacy"}),
            ("POST", f"{url}/rerun", {"points": [{"x": 5, "y": 5}]}),
        ):
            refused = await alice.request(method, path, params=query, json=body)
            assert refused.status_code == 400, (path, refused.text)
            assert words in refused.json()["detail"]
        download = await alice.get(f"{url}/download", params=query)
        assert download.status_code == 409  # accepted: the job is not completed yet
        original = await alice.get(f"{url}/original", params=query)
        assert original.status_code == 200, original.text
        events = await alice.get(f"{url}/events", params=query)
        assert events.status_code == 503  # accepted, forwarded: no notifier runs here
        # The job was not cancelled by the refused request.
        view = await alice.get(url, headers={"Authorization": f"Bearer {job['access_token']}"})
        assert view.json()["status"] != "cancelled"


async def test_the_monthly_quota_answers_429_with_retry_after(
    make_settings: Callable[..., Settings], clips: dict[str, Path]
) -> None:
    settings = make_settings(run_background=False)
    settings.quotas.free_videos_per_month = 2
    async with running_gateway(settings) as served, served.client() as client:
        for _ in range(2):
            assert (
                await create_job(client, await upload(client, clips["small"]))
            ).status_code == 201
        over = await create_job(client, await upload(client, clips["small"]))
        assert over.status_code == 429
        assert "2 of 2 videos this month" in over.json()["detail"]
        retry_after = int(over.headers["Retry-After"])
        assert 0 < retry_after <= 31 * 24 * 3600
        # Another address still has its own quota.
        async with served.client() as other:
            assert (await create_job(other, await upload(other, clips["small"]))).status_code == 201
        # A pro API key has its own, higher quota.
        from tapmask_gateway.app import create_api_key

        key = await create_api_key(settings, "test customer", 3)
        async with served.client(ip=client.headers["X-Forwarded-For"], **{"X-API-Key": key}) as pro:
            for _ in range(3):
                created = await create_job(pro, await upload(pro, clips["small"]))
                assert created.status_code == 201, created.text
            over = await create_job(pro, await upload(pro, clips["small"]))
            assert over.status_code == 429 and "3 of 3" in over.text
        async with served.client(**{"X-API-Key": "tmk_made_up"}) as forged:
            assert (await forged.get("/api/health")).status_code == 401


async def test_rotating_x_forwarded_for_from_an_untrusted_peer_still_gets_429(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(run_background=False, trusted_proxies=[])
    settings.quotas.free_requests_per_minute = 5
    settings.quotas.free_burst = 5
    async with running_gateway(settings) as served, httpx.AsyncClient(base_url=served.url) as c:
        codes = []
        for i in range(8):
            got = await c.get(f"/api/jobs/{uuid4()}", headers={"X-Forwarded-For": f"1.2.3.{i}"})
            codes.append(got.status_code)
        assert codes == [404] * 5 + [429] * 3
        assert int(got.headers["Retry-After"]) >= 1
        assert "too many requests" in got.json()["detail"]


async def test_behind_a_trusted_proxy_each_client_has_its_own_rate(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(run_background=False, trusted_proxies=["127.0.0.1"])
    settings.quotas.free_requests_per_minute = 5
    settings.quotas.free_burst = 5
    async with running_gateway(settings) as served, httpx.AsyncClient(base_url=served.url) as c:
        for i in range(8):
            got = await c.get(f"/api/jobs/{uuid4()}", headers={"X-Forwarded-For": f"1.2.3.{i}"})
            assert got.status_code == 404
        same = [
            (
                await c.get(f"/api/jobs/{uuid4()}", headers={"X-Forwarded-For": "1.2.3.99"})
            ).status_code
            for _ in range(6)
        ]
        assert same == [404] * 5 + [429]


async def test_the_bucket_gets_a_cors_rule_for_the_configured_origins(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(run_background=False, upload_origins=["https://tapmask.example"])
    async with running_gateway(settings) as served:
        rules = served.s3.client.get_bucket_cors(Bucket=served.s3.bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://tapmask.example"]
    assert "POST" in rules[0]["AllowedMethods"]
    # SeaweedFS stores the rule but answers every preflight with "*" anyway; AWS S3 applies it.


async def test_health_checks_each_dependency_for_real(
    gateway: Served, make_settings: Callable[..., Settings]
) -> None:
    async with gateway.client() as client:
        ok = await client.get("/api/health")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "checks": {"kafka": "ok", "postgres": "ok", "s3": "ok"}}

    settings = make_settings(run_background=False)
    settings.s3 = settings.s3.model_copy(update={"bucket": f"no-such-bucket-{uuid4().hex[:8]}"})
    async with running_gateway(settings) as served, served.client() as client:
        down = await client.get("/api/health")
    assert down.status_code == 503
    assert down.json()["down"] == ["s3"]
    assert down.json()["checks"]["kafka"] == "ok"


async def test_metrics_and_openapi_are_served(gateway: Served) -> None:
    async with gateway.client() as client:
        metrics = await gateway.scrape()
        schema = await client.get("/schema/openapi.json")
        page = await client.get("/")
    assert metrics.status_code == 200
    assert 'tapmask_gateway_jobs{state="pending"}' in metrics.text
    assert "tapmask_gateway_stage_duration_seconds" in metrics.text
    paths = json.loads(schema.text)["paths"]
    assert {"/api/upload/presigned", "/api/jobs", "/api/jobs/{job_id}", "/api/health"} <= set(paths)
    # The web app's API is there for third parties too: frames, the click's mask, track
    # once render many, corrections, cancel (issue 8).
    web_app = {
        "/api/upload/limits": "get",
        "/api/upload/video": "get",
        "/api/upload/frame": "get",
        "/api/upload/mask": "post",
        "/api/jobs/{job_id}/original": "get",
        "/api/jobs/{job_id}/render": "post",
        "/api/jobs/{job_id}/rerun": "post",
        "/api/jobs/{job_id}/cancel": "post",
    }
    for path, method in web_app.items():
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not in the OpenAPI"
        assert paths[path][method].get("summary"), f"{method.upper()} {path} has no summary"
    for path in ("/api/upload/mask", "/api/jobs/{job_id}/render", "/api/jobs/{job_id}/rerun"):
        assert "requestBody" in paths[path]["post"], f"POST {path} documents no body"
    assert page.status_code == 200 and "web frontend has not been built" in page.text


async def test_the_web_build_is_served_beside_the_api(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>TapMask</title><div id=root>")
    (dist / "assets" / "app.js").write_text("console.log('tapmask')")
    settings = make_settings(run_background=False, web_dist=dist)
    async with running_gateway(settings) as served, served.client() as client:
        page = await client.get("/")
        script = await client.get("/assets/app.js")
        health = await client.get("/api/health")
        schema = await client.get("/schema/openapi.json")
    assert page.status_code == 200 and "<div id=root>" in page.text
    assert script.status_code == 200 and "tapmask" in script.text
    assert health.status_code == 200
    assert schema.status_code == 200 and "/api/jobs" in schema.text


async def test_a_pro_api_key_has_its_own_higher_rate(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(run_background=False)
    settings.quotas.free_requests_per_minute = settings.quotas.free_burst = 3
    settings.quotas.pro_requests_per_minute = settings.quotas.pro_burst = 20
    from tapmask_gateway.app import create_api_key

    key = await create_api_key(settings, "rate test", None)
    async with running_gateway(settings) as served:
        async with served.client(ip="10.9.9.9") as free:
            codes = [(await free.get(f"/api/jobs/{uuid4()}")).status_code for _ in range(5)]
        assert codes == [404] * 3 + [429] * 2
        # Same address, but counted against the key.
        async with served.client(ip="10.9.9.9", **{"X-API-Key": key}) as pro:
            codes = [(await pro.get(f"/api/jobs/{uuid4()}")).status_code for _ in range(22)]
        assert codes == [404] * 20 + [429] * 2


def _padded(path: Path, size: int, out: Path) -> Path:
    """``path`` grown to exactly ``size`` bytes by a trailing MP4 ``free`` box (skipped by
    every reader), so two clips of different lengths fit one presigned POST."""
    data = path.read_bytes()
    pad = size - len(data)
    assert pad >= 8
    out.write_bytes(data + pad.to_bytes(4, "big") + b"free" + b"\0" * (pad - 8))
    return out


async def test_a_swapped_upload_never_reaches_the_job(
    gateway: Served, clips: dict[str, Path], kafka_bootstrap: str, tmp_path: Path
) -> None:
    # The attack of issue 9: a short clip is checked and accepted, then the same presigned
    # POST (valid 15 minutes) re-sends a longer clip of the same byte size.
    long = clips["long"]  # 40 frames
    size = long.stat().st_size + 64
    short = _padded(clips["small"], size, tmp_path / "short.mp4")  # 20 frames
    longer = _padded(long, size, tmp_path / "longer.mp4")
    async with gateway.client() as client:
        presign = await client.post(
            "/api/upload/presigned",
            json={"filename": "clip.mp4", "content_type": "video/mp4", "size": size},
        )
        body = presign.json()

        async def post(path: Path) -> None:
            async with httpx.AsyncClient(timeout=60) as store:
                sent = await store.post(
                    body["url"],
                    data=body["fields"],
                    files={
                        "file": ("clip.mp4", await asyncio.to_thread(path.read_bytes), "video/mp4")
                    },
                )
            assert sent.status_code in (200, 201, 204), sent.text

        await post(short)
        created = await create_job(client, body["upload_key"])
        assert created.status_code == 201, created.text
        assert created.json()["job_id"]
        await post(longer)  # the store takes it: the policy is still valid

    job_id = UUID(created.json()["job_id"])
    event, _ = await next_job_created(kafka_bootstrap, job_id)
    assert event.video.frame_count == 20
    assert event.upload_key != body["upload_key"]
    got = tmp_path / "what-the-workers-read.mp4"
    gateway.s3.download(event.upload_key, got)
    assert got.read_bytes() == short.read_bytes()


async def test_a_pin_of_bytes_that_changed_since_the_check_is_refused(
    gateway: Served, clips: dict[str, Path], tmp_path: Path
) -> None:
    # The narrower race: re-sent between the probe (which read one ETag) and the pin.
    from tapmask_gateway.adapters.probe import probe_upload
    from tapmask_gateway.adapters.s3 import UploadChanged

    size = clips["long"].stat().st_size + 64
    short = _padded(clips["small"], size, tmp_path / "short.mp4")
    longer = _padded(clips["long"], size, tmp_path / "longer.mp4")
    s3 = gateway.s3
    key = f"uploads/{uuid4()}.mp4"
    s3.client.upload_file(str(short), s3.bucket, key)
    checked = await probe_upload(s3, key, gateway.settings.limits)
    assert checked.info.frame_count == 20
    s3.client.upload_file(str(longer), s3.bucket, key)
    pinned = f"inputs/{uuid4()}.mp4"
    with pytest.raises(UploadChanged):
        s3.pin(key, pinned, checked.etag)
    assert s3.object_size(pinned) is None


async def test_a_faces_only_job_needs_no_click_and_a_job_needs_something_to_hide(
    gateway: Served, kafka_bootstrap: str
) -> None:
    async with gateway.client() as client:
        key = await upload(client, VIDEOS / "bedroom.mp4")
        nothing = await client.post(
            "/api/jobs", json={"upload_key": key, "processing_mode": "privacy"}
        )
        assert nothing.status_code == 400 and "nothing to hide" in nothing.text
        half = await client.post(
            "/api/jobs",
            json={
                "upload_key": key,
                "click_x": 10,
                "processing_mode": "privacy",
                "auto_faces": True,
            },
        )
        assert half.status_code == 400 and "click_x and click_y go together" in half.text
        faces = await client.post(
            "/api/jobs",
            json={"upload_key": key, "processing_mode": "privacy", "auto_faces": True},
        )
        assert faces.status_code == 201, faces.text
        event, _ = await next_job_created(kafka_bootstrap, UUID(faces.json()["job_id"]))
        assert isinstance(event, JobCreated)
        assert event.auto_faces and event.points == []
        # A client from before auto_faces (a click, no such field) gets what it always got:
        # the clicked object only, no face finder.
        old = await client.post(
            "/api/jobs",
            json={
                "upload_key": await upload(client, VIDEOS / "bedroom.mp4"),
                "click_x": 250,
                "click_y": 300,
                "processing_mode": "privacy",
            },
        )
        assert old.status_code == 201, old.text
        event, _ = await next_job_created(kafka_bootstrap, UUID(old.json()["job_id"]))
        assert isinstance(event, JobCreated)
        assert event.auto_faces is False and len(event.points) == 1
