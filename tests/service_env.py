"""The environment a test hands to a service it starts as a process. Importable by every
test (``tests/`` is on the tests' path)."""

from __future__ import annotations

from tapmask_runtime.settings import S3Settings


def s3_env(s3: S3Settings) -> dict[str, str]:
    """``TAPMASK_S3__*`` for the tests' object store, as the services read them."""
    return {
        "TAPMASK_S3__ENDPOINT_URL": s3.endpoint_url or "",
        "TAPMASK_S3__REGION": s3.region,
        "TAPMASK_S3__ACCESS_KEY": s3.access_key or "",
        "TAPMASK_S3__SECRET_KEY": s3.secret_key.get_secret_value() if s3.secret_key else "",
        "TAPMASK_S3__BUCKET": s3.bucket,
    }
