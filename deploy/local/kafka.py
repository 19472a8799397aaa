"""A single-node Apache Kafka (KRaft) broker run from its Maven Central jars.

Install: ``mvn dependency:copy-dependencies`` on ``kafka/pom.xml`` (the version is pinned there).
Start: ``kafka.tools.StorageTool format --standalone`` once, then ``kafka.Kafka``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from tapmask_runtime.settings import KafkaSettings

from ._common import (
    LaunchError,
    LocalService,
    LocalStackSettings,
    port_open,
    read_pid,
    require_binary,
    run,
    spawn,
    terminate,
    wait_until,
)

POM = Path(__file__).with_name("kafka") / "pom.xml"

JVM_FLAGS = [
    # Kafka's own scripts use 1G; 512m is plenty for one local broker.
    "-Xmx512m",
    "-Xms512m",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
# One line saying the broker is up helps when reading the log.
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise LaunchError(f"no <kafka.version> in {POM}")
    return match.group(1)



def new_cluster_id() -> str:
    """A random UUID in URL-safe base64 without padding, as Kafka's own ``random-uuid`` makes.

    Like Kafka's ``Uuid.randomUuid`` it never starts with ``-``: the storage tool's argument
    parser reads ``-t -hRU...`` as a missing value, which failed one CI install in 64.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id

class Kafka(LocalService):
    name = "kafka"
    answers = "answer Kafka metadata requests"

    def __init__(self, settings: LocalStackSettings) -> None:
        super().__init__(settings)
        self.home = settings.dir / "kafka"
        self.libs = self.home / f"libs-{kafka_version()}"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.log = self.home / "kafka.log"
        self.pid_file = self.home / "kafka.pid"
        self.port = settings.port(settings.kafka_port)
        self.controller_port = settings.port(settings.kafka_controller_port)

    @property
    def bootstrap(self) -> str:
        return f"{self.s.host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "TAPMASK_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
        }

    # --- install -----------------------------------------------------------------------------
    def install(self) -> None:
        done = self.libs / ".complete"
        if done.exists():
            return
        mvn = require_binary("mvn", "Install Maven (apt-get install -y maven): `make install`.")
        require_binary("java", "Install Java 17+ (apt-get install -y openjdk-17-jre-headless).")
        print(f"kafka: fetching Apache Kafka {kafka_version()} jars from Maven Central")
        tmp = self.libs.with_name(self.libs.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        # -B: no progress bars in logs.
        run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                POM,
                "dependency:copy-dependencies",
                f"-DoutputDirectory={tmp}",
            ],
            what="downloading Kafka jars",
        )
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)
        done.write_text(kafka_version() + "\n")

    # --- run ---------------------------------------------------------------------------------
    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            *JVM_FLAGS,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _write_config(self) -> None:
        host = self.s.host
        # The services' own topic retention (KafkaSettings), also for topics the broker
        # makes by itself (tests' ad-hoc ones): Kafka's default would keep them a week.
        topics = KafkaSettings()
        self.config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers={host}:{self.controller_port}",
                    "controller.listener.names=CONTROLLER",
                    f"listeners=PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{host}:{self.port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data}",
                    "num.partitions=3",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # Consumers in tests join and leave often: no rebalance delay.
                    "group.initial.rebalance.delay.ms=0",
                    # The services create theirs at start-up with their retention
                    # (tapmask_runtime.kafka.ensure_topics); tests send to ad-hoc topics.
                    "auto.create.topics.enable=true",
                    f"log.retention.ms={topics.topic_retention_ms}",
                    f"log.roll.ms={topics.topic_segment_ms}",
                    "",
                ]
            )
        )
        (self.home / "log4j2.properties").write_text(LOG4J2)

    def _format_storage(self) -> None:
        if (self.data / "meta.properties").exists():
            return  # formatted by an earlier start: keep the data
        cluster_id = new_cluster_id()
        run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config),
                "--standalone",
            ),
            what="formatting Kafka storage",
        )

    def ready(self) -> bool:
        if not port_open(self.s.host, self.port):
            return False
        return asyncio.run(_metadata_ok(self.bootstrap))

    def running_pid(self) -> int | None:
        return read_pid(self.pid_file)

    def _start(self) -> None:
        self.install()
        self.home.mkdir(parents=True, exist_ok=True)
        self._write_config()
        pid = self.running_pid()
        if pid is None:
            self._format_storage()
            print(f"kafka: starting broker on {self.bootstrap}")
            pid = spawn(
                self._java("kafka.Kafka", str(self.config)),
                log=self.log,
                pid_file=self.pid_file,
            )
        wait_until(
            self.ready,
            timeout_s=self.s.ready_timeout_s,
            what=f"Kafka on {self.bootstrap}",
            alive=lambda: self.running_pid() is not None,
            log=self.log,
        )

    def stop(self) -> bool:
        return terminate(self.pid_file, what="kafka", grace_s=30)


async def _metadata_ok(bootstrap: str) -> bool:
    """A real readiness check: the broker answers an admin metadata request."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
    except Exception:
        return False
    finally:
        await admin.close()
    return True
