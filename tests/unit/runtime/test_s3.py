"""The S3 client services build: presigned URLs a browser can use (no network needed)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import S3Settings

SETTINGS = S3Settings(
    endpoint_url="http://seaweedfs:8333",
    public_endpoint_url="http://localhost:8333",
    access_key="AKIDEXAMPLE",
    secret_key=SecretStr("secret"),
    bucket="tapmask",
)


def _presign(public: bool) -> str:
    client = make_s3_client(SETTINGS, public=public)
    return client.generate_presigned_url(
        "put_object", Params={"Bucket": "tapmask", "Key": "uploads/a b.mp4"}, ExpiresIn=900
    )


def test_presigned_urls_point_at_the_public_endpoint_with_sigv4_and_path_style() -> None:
    url = urlsplit(_presign(public=True))
    assert (url.scheme, url.netloc) == ("http", "localhost:8333")
    assert url.path == "/tapmask/uploads/a%20b.mp4"
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")


def test_internal_client_talks_to_the_internal_endpoint() -> None:
    assert urlsplit(_presign(public=False)).netloc == "seaweedfs:8333"


def test_aws_uses_virtual_hosted_buckets() -> None:
    aws = S3Settings(
        endpoint_url=None, region="eu-west-1", access_key="AKID", secret_key=SecretStr("s")
    )
    client = make_s3_client(aws)
    url = urlsplit(
        client.generate_presigned_url("get_object", Params={"Bucket": "tapmask", "Key": "k"})
    )
    assert url.netloc.startswith("tapmask.s3.")
    assert url.path == "/k"
