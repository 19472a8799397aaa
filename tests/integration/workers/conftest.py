"""The workers and the notifier as real processes against the real Kafka and S3 of
tests/conftest.py (`kafka_bootstrap`, `s3`).

Every session uses its own topic prefix (TAPMASK_KAFKA__TOPIC_PREFIX, the one setting all
services share) and consumer groups, so these workers never take jobs of another test run
or of a `make up` stack sharing the broker, and never fail them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from service_env import s3_env
from workers_harness import TRACKER_MAX_POLL_MS

from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import S3Settings
from tapmask_schemas import ClickPoint, Event, JobCreated, ProcessingMode, VideoInfo
from tapmask_schemas.topics import ALL_TOPICS, JOB_CREATED, key_for

BIN = Path(sys.executable).parent
CLIP_FRAMES = 60  # 2 s: short enough for the cpu tracker on 2 shared cores
CLIP_WIDTH = 640
SOURCE = "01_dog.mp4"
SOURCE_CLICK = (600, 427)  # the dog, from videos/manifest.json, in source pixels


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Clip:
    path: Path
    width: int
    height: int
    frames: int
    fps: Fraction
    click: tuple[float, float]


@pytest.fixture(scope="session")
def clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """The first 2 s of a real clip, downscaled to 640 px wide (PyAV, H.264)."""
    src = testdata / "videos" / SOURCE
    out = tmp_path_factory.mktemp("clip") / "dog-2s.mp4"
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(30)
        scale = CLIP_WIDTH / vin.codec_context.width
        height = round(vin.codec_context.height * scale / 2) * 2
        stream = dst.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = CLIP_WIDTH, height, "yuv420p"
        for i, frame in enumerate(inp.decode(vin)):
            if i == CLIP_FRAMES:
                break
            small = frame.reformat(width=CLIP_WIDTH, height=height, format="yuv420p")
            small.pts = None
            for packet in stream.encode(small):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    x, y = SOURCE_CLICK
    return Clip(out, CLIP_WIDTH, height, CLIP_FRAMES, Fraction(rate), (x * scale, y * scale))


@dataclass
class Record:
    topic: str
    value: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.value)


@dataclass
class Observer:
    """Everything published on the session's topics, as it arrives."""

    prefix: str
    records: list[Record] = field(default_factory=list)
    processes: dict[str, Process] = field(default_factory=dict)

    def of(self, base_topic: str, job_id: uuid.UUID | None = None) -> list[Record]:
        out = [r for r in self.records if r.topic == self.prefix + base_topic]
        if job_id is None:
            return out
        return [r for r in out if _job_of(r) == str(job_id)]

    async def wait_for(
        self, what: str, predicate: Callable[[], Any], within_s: float = 90.0
    ) -> Any:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for proc in self.processes.values():
                proc.check_alive()
            found = predicate()
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")


def _job_of(record: Record) -> str | None:
    with contextlib.suppress(ValueError, TypeError, KeyError):
        return str(json.loads(record.value)["job_id"])
    return None


class Process:
    """A service console script run as a child process, its output in a log file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.start()

    def start(self) -> None:
        self.killed = False
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [str(BIN / f"tapmask-{self.name}")],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def check_alive(self) -> None:
        """Fail with the service's last log lines when it exited on its own."""
        if self.proc is not None and self.proc.poll() is not None and not self.killed:
            tail = "\n".join(self.log_lines()[-25:])
            raise AssertionError(f"tapmask-{self.name} exited ({self.proc.returncode}):\n{tail}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        self.killed = True
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@dataclass
class Stack:
    prefix: str
    bootstrap: str
    s3: S3Settings
    observer: Observer
    producer: AIOKafkaProducer
    processes: dict[str, Process]
    clip: Clip
    upload_key: str
    token_secret: str
    notifier_url: str
    metrics_urls: dict[str, str]

    async def send_raw(self, base_topic: str, value: bytes, key: bytes | None = None) -> None:
        await self.producer.send_and_wait(self.prefix + base_topic, value, key=key)

    async def send(self, base_topic: str, event: Event) -> None:
        await self.send_raw(base_topic, event.model_dump_json().encode(), key_for(event.job_id))

    def job(self, **kw: Any) -> JobCreated:
        c = self.clip
        base: dict[str, Any] = {
            "job_id": uuid.uuid4(),
            "upload_key": self.upload_key,
            "mode": ProcessingMode.PRIVACY,
            "points": [ClickPoint(x=c.click[0], y=c.click[1])],
            "video": VideoInfo(
                width=c.width,
                height=c.height,
                frame_count=c.frames,
                duration_seconds=float(c.frames / c.fps),
                fps=float(c.fps),
                has_audio=False,
            ),
        }
        return JobCreated(**{**base, **kw})

    async def submit(self, **kw: Any) -> JobCreated:
        job = self.job(**kw)
        await self.send(JOB_CREATED, job)
        return job


def _service_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPMASK_")}
    env.update(base)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
async def stack(
    kafka_bootstrap: str,
    s3: S3Settings,
    clip: Clip,
    run_id: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    prefix = f"wt{run_id}{uuid.uuid4().hex[:6]}."
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(prefix + t, num_partitions=2, replication_factor=1) for t in ALL_TOPICS]
        )
    finally:
        await admin.close()

    client = make_s3_client(s3)
    upload_key = f"uploads/{uuid.uuid4()}.mp4"
    await asyncio.to_thread(client.upload_file, str(clip.path), s3.bucket, upload_key)

    observer = Observer(prefix)
    consumer = AIOKafkaConsumer(
        *(prefix + t for t in ALL_TOPICS),
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{prefix}observer",
        auto_offset_reset="earliest",
    )
    await consumer.start()

    async def collect() -> None:
        async for msg in consumer:
            headers = {k: v.decode(errors="replace") for k, v in (msg.headers or ())}
            observer.records.append(Record(msg.topic, msg.value or b"", headers))

    collector = asyncio.create_task(collect())
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    secret = uuid.uuid4().hex
    base = {
        "TAPMASK_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TAPMASK_KAFKA__MAX_POLL_INTERVAL_MS": "60000",
        "TAPMASK_KAFKA__TOPIC_PARTITIONS": "2",
        **s3_env(s3),
        "TAPMASK_KAFKA__TOPIC_PREFIX": prefix,
        # The broker's floor: a SIGKILLed worker's partitions move on after ~6 s.
        "TAPMASK_WORKER__SESSION_TIMEOUT_MS": "6000",
        "TAPMASK_WORKER__HEARTBEAT_INTERVAL_MS": "1000",
        "TAPMASK_WORKER__BACKOFF_INITIAL_S": "0.2",
        "TAPMASK_WORKER__PROGRESS_INTERVAL_S": "0.5",
        "TAPMASK_WORKER__LAG_INTERVAL_S": "0.5",
        "TAPMASK_LOG__LEVEL": "INFO",
        "TAPMASK_TOKEN_SECRET": secret,
    }
    logs = tmp_path_factory.mktemp("service-logs")
    metrics = {name: free_port() for name in ("tracker", "renderer")}
    notifier_port = free_port()
    processes = {
        name: Process(
            name,
            _service_env(
                base,
                TAPMASK_WORKER__GROUP_ID=f"{prefix}{name}",
                TAPMASK_METRICS__PORT=str(metrics[name]),
                **(
                    {"TAPMASK_KAFKA__MAX_POLL_INTERVAL_MS": str(TRACKER_MAX_POLL_MS)}
                    if name == "tracker"
                    else {}
                ),
            ),
            logs,
        )
        for name in ("tracker", "renderer")
    }
    processes["notifier"] = Process(
        "notifier", _service_env(base, TAPMASK_NOTIFIER__PORT=str(notifier_port)), logs
    )
    observer.processes = processes
    stack = Stack(
        prefix=prefix,
        bootstrap=kafka_bootstrap,
        s3=s3,
        observer=observer,
        producer=producer,
        processes=processes,
        clip=clip,
        upload_key=upload_key,
        token_secret=secret,
        notifier_url=f"http://127.0.0.1:{notifier_port}",
        metrics_urls={n: f"http://127.0.0.1:{p}/metrics" for n, p in metrics.items()},
    )
    try:
        yield stack
    finally:
        for proc in processes.values():
            await asyncio.to_thread(proc.stop)
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await consumer.stop()
        await producer.stop()


@pytest.fixture
def s3_client(s3: S3Settings) -> Iterator[Any]:
    yield make_s3_client(s3)
