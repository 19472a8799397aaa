"""boto3 S3 clients built from ``S3Settings`` (SeaweedFS locally, any S3 API elsewhere)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from tapmask_runtime.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def make_s3_client(settings: S3Settings, *, public: bool = False) -> S3Client:
    """An S3 client; ``public=True`` gives one whose presigned URLs use the endpoint a browser
    reaches (``public_endpoint_url``). Presigning is local, so that client needs no network."""
    endpoint = settings.endpoint_url
    if public and settings.public_endpoint_url is not None:
        endpoint = settings.public_endpoint_url
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=(
            settings.secret_key.get_secret_value() if settings.secret_key else None
        ),
        config=Config(
            # SigV4 everywhere: SeaweedFS and every AWS region accept it; v2 is deprecated.
            signature_version="s3v4",
            # SeaweedFS serves buckets in the path, not as <bucket>.host subdomains.
            s3={"addressing_style": settings.addressing_style},
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=5,
            read_timeout=60,
        ),
    )
