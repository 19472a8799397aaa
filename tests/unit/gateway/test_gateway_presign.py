"""Presigned URLs point at the endpoint browsers reach and pin what the server decided."""

from __future__ import annotations

import base64
import json

from pydantic import SecretStr

from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_runtime.settings import S3Settings

SETTINGS = S3Settings(
    endpoint_url="http://seaweedfs.internal:8333",
    public_endpoint_url="https://media.example.test",
    access_key="k",
    secret_key=SecretStr("s"),
    bucket="tapmask",
)


def test_the_upload_policy_pins_key_type_and_exact_length() -> None:
    post = GatewayS3(SETTINGS).presign_upload("uploads/abc.mp4", "video/mp4", 1234, 900)
    assert post.url.startswith("https://media.example.test/tapmask")
    assert post.fields["key"] == "uploads/abc.mp4"
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    conditions = policy["conditions"]
    assert {"Content-Type": "video/mp4"} in conditions
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"key": "uploads/abc.mp4"} in conditions
    assert {"bucket": "tapmask"} in conditions


def test_downloads_use_the_public_endpoint_and_expire() -> None:
    url = GatewayS3(SETTINGS).presign_download("outputs/j.mp4", "tapmask-j.mp4", 3600)
    assert url.startswith("https://media.example.test/tapmask/outputs/j.mp4?")
    assert "X-Amz-Expires=3600" in url
    assert "attachment" in url
