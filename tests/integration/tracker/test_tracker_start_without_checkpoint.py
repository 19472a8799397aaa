"""A GPU tracker whose SAM 2 checkpoint is not in the models bucket does not start: the
process exits non-zero naming the missing object (Kubernetes shows CrashLoopBackOff and
this line in `kubectl logs`), rather than running without its model. Run as the pod runs
it (deploy/k8s/base/tracker.yaml: backend sam2, checkpoint key in the models bucket), as
the real console script against the local Kafka and S3."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from service_env import s3_env

from tapmask_runtime.settings import S3Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_missing_checkpoint_stops_the_tracker_at_start_naming_the_object(
    kafka_bootstrap: str, s3: S3Settings, tmp_path: Path
) -> None:
    key = f"sam2.1/{uuid.uuid4()}/sam2.1_hiera_tiny.pt"  # never uploaded
    checkpoint = tmp_path / "models" / "sam2.1_hiera_tiny.pt"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPMASK_")}
    env |= {
        "TAPMASK_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TAPMASK_KAFKA__TOPIC_PREFIX": f"ckpt{uuid.uuid4().hex[:8]}.",
        "TAPMASK_KAFKA__TOPIC_PARTITIONS": "1",
        **s3_env(s3),
        "TAPMASK_METRICS__PORT": str(port),
        "TAPMASK_LOG__LEVEL": "INFO",
        # As the Deployment sets them.
        "TAPMASK_TRACKER__BACKEND": "sam2",
        "TAPMASK_TRACKER__MODELS_BUCKET": s3.bucket,
        "TAPMASK_TRACKER__SAM2_CHECKPOINT_KEY": key,
        "TAPMASK_TRACKER__SAM2_CHECKPOINT": str(checkpoint),
    }

    done = subprocess.run(
        [str(BIN / "tapmask-tracker")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    assert f"cannot download the SAM 2 checkpoint s3://{s3.bucket}/{key}" in output
    # Nothing half-downloaded is left to be taken for a checkpoint by a restart.
    assert not checkpoint.exists()
    assert not checkpoint.parent.exists() or not any(checkpoint.parent.iterdir())
    # It tried, then never opened its probe port: the pod was never live, let alone ready.
    assert "downloading SAM 2 checkpoint" in output
    assert "probes and metrics on" not in output
