"""The four services as `make up` runs them (their console scripts), against this session's
Kafka, S3 and a PostgreSQL schema of their own, for the end-to-end tests: started, waited
for, and stopped with SIGTERM (their log tails printed) however the test ends.

test_full_job's ``system`` fixture and test_job_trace's traced one start them the same way,
defined here once; each adds only its own environment and what "ready" means to it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from db_schema import new_schema
from service_env import s3_env

from tapmask_runtime.settings import S3Settings

BIN = Path(sys.executable).parent
SERVICES = ("gateway", "notifier", "tracker", "renderer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_env(
    kafka: str, dsn: str, s3: S3Settings, secret: str, ports: dict[str, int], run: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPMASK_")}
    env.update(
        {
            "TAPMASK_KAFKA__BOOTSTRAP_SERVERS": kafka,
            "TAPMASK_DATABASE__URL": dsn,
            **s3_env(s3),
            "TAPMASK_S3__PUBLIC_ENDPOINT_URL": s3.public_endpoint_url or s3.endpoint_url or "",
            "TAPMASK_TOKEN_SECRET": secret,
            "TAPMASK_GATEWAY_URL": f"http://127.0.0.1:{ports['gateway']}",
            "TAPMASK_NOTIFIER_URL": f"http://127.0.0.1:{ports['notifier']}",
            "TAPMASK_PROJECTOR_GROUP_ID": f"e2e-projector-{run}",
            # Topics of this run only: a `make up` stack (or another test run) on the same
            # broker neither takes this test's jobs nor gets its workers' hands on its own.
            "TAPMASK_KAFKA__TOPIC_PREFIX": f"e2e-{run}.",
            "TAPMASK_WORKER__MAX_ATTEMPTS": "2",
            # Tests speak as many clients (X-Forwarded-For) through this trusted "proxy".
            "TAPMASK_TRUSTED_PROXIES": '["127.0.0.1"]',
        }
    )
    return env


def _spawn(name: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """The service's console script, as `make up` starts it."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [str(BIN / f"tapmask-{name}")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@asynccontextmanager
async def running_services(
    kafka_bootstrap: str,
    postgres_dsn: str,
    s3: S3Settings,
    logs: Path,
    *,
    env: Mapping[str, str] | None = None,
    workers_ready: bool = False,
    timeout_s: float = 90,
) -> AsyncIterator[str]:
    """The four services started with ``env`` added to each one's, each logging to
    ``logs/<name>.log``; yields the gateway's URL once it answers /api/health (and, with
    ``workers_ready``, both workers' /readyz too)."""
    run = uuid.uuid4().hex[:8]
    dsn = await new_schema(postgres_dsn, "e2e")
    ports = {name: free_port() for name in SERVICES}
    base = _service_env(kafka_bootstrap, dsn, s3, uuid.uuid4().hex, ports, run) | dict(env or {})
    per_service = {
        "gateway": {"TAPMASK_PORT": str(ports["gateway"])},
        "notifier": {"TAPMASK_NOTIFIER__PORT": str(ports["notifier"])},
        **{
            worker: {
                "TAPMASK_METRICS__PORT": str(ports[worker]),
                "TAPMASK_WORKER__GROUP_ID": f"e2e-{worker}-{run}",
            }
            for worker in ("tracker", "renderer")
        },
    }
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    # Each URL and the status it answers once that service is ready.
    ready = {f"{gateway}/api/health": 200}
    if workers_ready:
        ready |= {f"http://127.0.0.1:{ports[w]}/readyz": 204 for w in ("tracker", "renderer")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, extra in per_service.items():
            procs[name] = _spawn(name, base | extra, logs / f"{name}.log")
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(timeout_s):
            while True:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        raise AssertionError(f"{name} exited: {tail(logs / f'{name}.log')}")
                try:
                    answers = {url: (await client.get(url)).status_code for url in ready}
                    if answers == ready:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        yield gateway
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"--- {name} log tail ---\n{tail(logs / f'{name}.log')}")
