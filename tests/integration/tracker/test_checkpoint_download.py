"""The tracker fetches its SAM 2 checkpoint from the models bucket once, at start-up."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import S3Settings
from tapmask_tracker.app import _ensure_checkpoint
from tapmask_tracker.settings import Settings, TrackerOptions

pytestmark = pytest.mark.integration


def test_checkpoint_is_downloaded_from_the_models_bucket_once(
    s3: S3Settings, tmp_path: Path
) -> None:
    key = f"models/{uuid.uuid4()}/sam2.1_hiera_tiny.pt"
    payload = b"not really weights, but bytes to carry" * 1000
    make_s3_client(s3).put_object(Bucket=s3.bucket, Key=key, Body=payload)
    target = tmp_path / "ckpt" / "sam2.pt"
    settings = Settings(
        s3=s3,
        tracker=TrackerOptions(
            backend="sam2", sam2_checkpoint=target, sam2_checkpoint_key=key, models_bucket=s3.bucket
        ),
    )

    assert _ensure_checkpoint(settings) == target
    assert target.read_bytes() == payload
    assert not list(target.parent.glob("*.part"))

    # Present already: used as is, no second download (the key may even be gone).
    make_s3_client(s3).delete_object(Bucket=s3.bucket, Key=key)
    assert _ensure_checkpoint(settings) == target


def test_missing_checkpoint_key_fails_at_start_up(s3: S3Settings, tmp_path: Path) -> None:
    settings = Settings(
        s3=s3,
        tracker=TrackerOptions(
            sam2_checkpoint=tmp_path / "x.pt",
            sam2_checkpoint_key=f"models/{uuid.uuid4()}.pt",
            models_bucket=s3.bucket,
        ),
    )
    with pytest.raises(RuntimeError, match="cannot download the SAM 2 checkpoint s3://"):
        _ensure_checkpoint(settings)
    assert not (tmp_path / "x.pt").exists()
