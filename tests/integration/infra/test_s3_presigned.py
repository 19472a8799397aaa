"""A browser-style upload and download through presigned URLs on the real S3 endpoint."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx

from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import S3Settings


def test_presigned_put_then_get_round_trips_the_bytes(
    s3: S3Settings, unique_name: Callable[[str], str]
) -> None:
    client = make_s3_client(s3, public=True)
    key = unique_name("uploads/clip") + ".mp4"
    payload = os.urandom(256 * 1024)  # random: a short or truncated copy cannot match

    put_url = client.generate_presigned_url(
        "put_object",
        Params={"Bucket": s3.bucket, "Key": key, "ContentType": "video/mp4"},
        ExpiresIn=300,
    )
    put = httpx.put(put_url, content=payload, headers={"Content-Type": "video/mp4"})
    assert put.status_code == 200, put.text

    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=300
    )
    got = httpx.get(get_url)
    assert got.status_code == 200, got.text
    assert got.content == payload
    assert got.headers["content-type"] == "video/mp4"


def test_a_tampered_presigned_url_is_refused(
    s3: S3Settings, unique_name: Callable[[str], str]
) -> None:
    client = make_s3_client(s3, public=True)
    key = unique_name("uploads/secret")
    client.put_object(Bucket=s3.bucket, Key=key, Body=b"private")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=300
    )

    other_key = url.replace(key.rsplit("/", 1)[-1], "someone-elses-file")
    assert httpx.get(other_key).status_code == 403
    assert httpx.get(url).content == b"private"
