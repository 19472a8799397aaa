"""Session fixtures giving tests a real Kafka broker, PostgreSQL database and S3 bucket.

Each comes, in this order, from:
1. the environment (``TAPMASK_KAFKA__BOOTSTRAP_SERVERS`` or ``KAFKA_BOOTSTRAP_SERVERS``,
   ``TAPMASK_DATABASE__URL``, ``TAPMASK_S3__ENDPOINT_URL`` + keys) — what ``make test`` sets;
2. testcontainers, when a Docker engine answers;
3. the local launchers ``make up`` uses (``deploy/local``), started on demand.
If none works the test fails with the reason; it is never skipped.

Every session gets its own names (database, bucket, topics via ``unique_name``), so reruns and
parallel sessions never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from tapmask_runtime.s3 import make_s3_client
from tapmask_runtime.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


# --- where the infrastructure comes from -----------------------------------------------------


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return (
            subprocess.run(
                ["docker", "info"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _local_stack(name: str) -> dict[str, str]:
    """Start (or reuse) one service of deploy/local and return its env vars."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from deploy.local import stack
    from deploy.local._common import LaunchError

    try:
        return stack.up([name])
    except LaunchError as exc:
        pytest.fail(
            f"No {name} for the tests: no env var points at one, no Docker engine answered, "
            f"and the local launcher failed:\n{exc}\n"
            "Run `make infra-up` (or set the TAPMASK_* variables) and look at .local/.",
            pytrace=False,
        )


class _Infra:
    """Starts each piece at most once per session, from the first source that has it."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._docker: bool | None = None

    @property
    def docker(self) -> bool:
        if self._docker is None:
            self._docker = _docker_answers()
        return self._docker

    def kafka(self) -> str:
        env = os.environ.get("TAPMASK_KAFKA__BOOTSTRAP_SERVERS") or os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS"
        )
        if env:
            return env
        if self.docker:
            from testcontainers.community.kafka import KafkaContainer

            container = self._stack.enter_context(
                KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
            )
            return str(container.get_bootstrap_server())
        return _local_stack("kafka")["TAPMASK_KAFKA__BOOTSTRAP_SERVERS"]

    def postgres(self) -> str:
        env = os.environ.get("TAPMASK_DATABASE__URL")
        if env:
            return env
        if self.docker:
            from testcontainers.community.postgres import PostgresContainer

            container = self._stack.enter_context(
                PostgresContainer(
                    "postgres:16",
                    username="tapmask",
                    password="tapmask",
                    dbname="tapmask",
                    driver=None,
                )
            )
            return str(container.get_connection_url())
        return _local_stack("postgres")["TAPMASK_DATABASE__URL"]

    def s3(self) -> S3Settings:
        env = os.environ
        if env.get("TAPMASK_S3__ENDPOINT_URL") or env.get("TAPMASK_S3__BUCKET"):
            return _s3_settings(env)
        if self.docker:
            from testcontainers.core.container import DockerContainer
            from testcontainers.core.waiting_utils import wait_for_logs

            container = self._stack.enter_context(
                DockerContainer("minio/minio:latest")
                .with_command("server /data")
                .with_env("MINIO_ROOT_USER", "tapmask")
                .with_env("MINIO_ROOT_PASSWORD", "tapmask-secret")
                .with_exposed_ports(9000)
            )
            wait_for_logs(container, "API:", timeout=60)
            host = container.get_container_host_ip()
            port = container.get_exposed_port(9000)
            return S3Settings(
                endpoint_url=f"http://{host}:{port}",
                access_key="tapmask",
                secret_key=SecretStr("tapmask-secret"),
                bucket="",
            )
        return _s3_settings(_local_stack("s3"))


def _s3_settings(env: Mapping[str, str]) -> S3Settings:
    secret = env.get("TAPMASK_S3__SECRET_KEY")
    return S3Settings(
        endpoint_url=env.get("TAPMASK_S3__ENDPOINT_URL") or None,
        public_endpoint_url=env.get("TAPMASK_S3__PUBLIC_ENDPOINT_URL") or None,
        access_key=env.get("TAPMASK_S3__ACCESS_KEY") or None,
        secret_key=SecretStr(secret) if secret else None,
        region=env.get("TAPMASK_S3__REGION", "us-east-1"),
        bucket=env.get("TAPMASK_S3__BUCKET", "tapmask"),
    )


@pytest.fixture(scope="session")
def _infra() -> Iterator[_Infra]:
    with ExitStack() as stack:
        yield _Infra(stack)


# --- the fixtures tests use ------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_id() -> str:
    """Short and unique to this test session."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def unique_name(run_id: str) -> Callable[[str], str]:
    """``unique_name("tapmask.job-created")`` -> a name no other test or session uses
    (Kafka topics, consumer groups, S3 keys)."""

    def make(base: str) -> str:
        return f"{base}.test-{run_id}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture(scope="session")
def kafka_bootstrap(_infra: _Infra) -> str:
    """``host:port`` of a real Kafka broker answering metadata requests."""
    bootstrap = _infra.kafka()
    try:
        asyncio.run(_kafka_metadata(bootstrap))
    except Exception as exc:
        pytest.fail(f"Kafka at {bootstrap} does not answer: {exc!r}", pytrace=False)
    return bootstrap


EventLife = Callable[[list[str]], Awaitable[dict[str, timedelta]]]


@pytest.fixture(scope="session")
def kafka_event_life(kafka_bootstrap: str) -> EventLife:
    """``await kafka_event_life([topic, ...])`` -> the longest the broker may keep an event on
    each topic, from its configs as the broker reports them: in an open segment for
    ``segment.ms``, ``retention.ms`` after the segment's newest event, then until the
    broker's next retention check. ``timedelta.max`` where events are not deleted by time
    (compacted, infinite retention) or the topic is missing."""

    async def life(names: list[str]) -> dict[str, timedelta]:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            broker_id = str((await admin.describe_cluster())["brokers"][0]["node_id"])
            resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
            resources.append(ConfigResource(ConfigResourceType.BROKER, broker_id))
            configs: dict[str | None, dict[str, str]] = {}
            for response in await admin.describe_configs(resources):
                for res in response.to_object()["resources"]:
                    broker = res["resource_type"] == ConfigResourceType.BROKER
                    configs[None if broker else res["resource_name"]] = {
                        e["config_names"]: e["config_value"] for e in res["config_entries"]
                    }
        finally:
            await admin.close()
        check_ms = int(configs[None]["log.retention.check.interval.ms"])
        out = {}
        for name in names:
            topic = configs.get(name, {})
            retention = int(topic.get("retention.ms", -1))
            if topic.get("cleanup.policy") != "delete" or retention < 0:
                out[name] = timedelta.max
            else:
                out[name] = timedelta(milliseconds=int(topic["segment.ms"]) + retention + check_ms)
        return out

    return life


async def _kafka_metadata(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_dsn(_infra: _Infra, run_id: str) -> Iterator[str]:
    """DSN of a fresh PostgreSQL database, dropped after the session.

    Falls back to the configured database itself when the role may not create databases
    (a managed server); tests then must clean up after themselves."""
    base = _infra.postgres()
    name = f"tapmask_test_{run_id}"
    try:
        created = asyncio.run(_create_database(base, name))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {_redact(base)} does not answer: {exc!r}", pytrace=False)
    if not created:
        yield base
        return
    yield _with_database(base, name)
    asyncio.run(_drop_database(base, name))


async def _create_database(dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError:
        return False
    finally:
        await conn.close()
    return True


async def _drop_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.password, "***")))
    return dsn


@pytest.fixture(scope="session")
def s3(_infra: _Infra, run_id: str) -> Iterator[S3Settings]:
    """Settings of a fresh bucket on a real S3 endpoint, emptied and removed after the session.

    Falls back to the configured bucket when creating buckets is not allowed (e.g. AWS with
    a narrow policy); tests then keep to keys made with ``unique_name``."""
    target = _infra.s3()
    client = make_s3_client(target)
    bucket = f"tapmask-test-{run_id}"
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if not target.bucket or exc.response.get("Error", {}).get("Code") != "AccessDenied":
            pytest.fail(f"S3 at {target.endpoint_url}: cannot create a bucket: {exc}")
        yield target
        return
    except Exception as exc:
        pytest.fail(f"S3 at {target.endpoint_url} does not answer: {exc!r}", pytrace=False)
    yield target.model_copy(update={"bucket": bucket})
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared real footage (../shared/testdata beside the checkout), read in place."""
    if not TESTDATA.is_dir():
        pytest.fail(f"test footage not found at {TESTDATA}", pytrace=False)
    return TESTDATA
