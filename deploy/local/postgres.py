"""A PostgreSQL cluster from the apt packages, with its data under ``.local/postgres``.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user
(created when missing) and owns its data directory.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from ._common import (
    LaunchError,
    LocalService,
    LocalStackSettings,
    RunAs,
    pid_alive,
    port_open,
    run,
    wait_until,
)

USER = "tapmask"
PASSWORD = "tapmask"
DATABASE = "tapmask"


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (what Debian's apt package installs)."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise LaunchError(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin. "
            "Install them with `apt-get install -y postgresql` or run `make install`."
        )
    return found[-1]


class Postgres(LocalService):
    name = "postgres"
    answers = f"accept the {USER}/{PASSWORD} login"

    def __init__(self, settings: LocalStackSettings) -> None:
        super().__init__(settings)
        self.home = settings.dir / "postgres"
        self.data = self.home / "data"
        self.sockets = self.home / "run"
        self.log = self.home / "postgres.log"
        self.port = settings.port(settings.postgres_port)

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@{self.s.host}:{self.port}/{DATABASE}"

    def env(self) -> dict[str, str]:
        return {"TAPMASK_DATABASE__URL": self.url}

    def install(self) -> None:
        find_bin_dir()  # apt installs it; `make install` does that when missing

    def _as_server(self, cmd: list[str | os.PathLike[str]]) -> list[str]:
        runas = RunAs.for_server("postgres")
        return runas.wrap(cmd) if runas else [os.fspath(c) for c in cmd]

    def _initdb(self, bin_dir: Path) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        runas = RunAs.for_server("postgres")
        self.home.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.home, delete=False) as pw:
            pw.write(PASSWORD + "\n")
        pw_file = Path(pw.name)
        pw_file.chmod(0o644)
        try:
            if runas:
                runas.own(self.home)
            print(f"postgres: initdb in {self.data}")
            run(
                self._as_server(
                    [
                        bin_dir / "initdb",
                        "-D",
                        self.data,
                        "-U",
                        USER,
                        f"--pwfile={pw_file}",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                        # Local socket (only the server's own user can reach it) is trusted;
                        # TCP needs the password, as it would anywhere else.
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                    ]
                ),
                what="initdb",
            )
        finally:
            pw_file.unlink(missing_ok=True)

    def _psql(self, bin_dir: Path, sql: str) -> str:
        return run(
            [
                bin_dir / "psql",
                "-h",
                self.s.host,
                "-p",
                str(self.port),
                "-U",
                USER,
                "-d",
                "postgres",
                "-tAc",
                sql,
            ],
            what="psql",
            env={**os.environ, "PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "3"},
        )

    def ready(self) -> bool:
        """Ready means: a password login over TCP works and the database exists."""
        if not port_open(self.s.host, self.port):
            return False
        try:
            return self._has_database(find_bin_dir())
        except LaunchError:
            return False

    def _has_database(self, bin_dir: Path) -> bool:
        out = self._psql(bin_dir, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        return out.strip() == "1"

    def running_pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def _start(self) -> None:
        bin_dir = find_bin_dir()
        runas = RunAs.for_server("postgres")
        if runas and not runas.can_enter(self.s.dir):
            raise LaunchError(
                f"the postgres user cannot reach {self.s.dir} (a parent directory is not "
                "world-executable, e.g. under /root); set TAPMASK_LOCAL_DIR to a directory "
                "it can reach, such as /var/tmp/tapmask"
            )
        self._initdb(bin_dir)
        if runas:
            # A fresh clone or a copy by root leaves files the server user cannot write.
            runas.own(self.home)
        if self.running_pid() is None:
            print(f"postgres: starting on {self.s.host}:{self.port}")
            opts = (
                f"-c listen_addresses={self.s.host} -p {self.port} "
                f"-c unix_socket_directories={self.sockets} "
                # Faster commits for a dev/test box; unlike fsync=off a crash loses only
                # the last transactions, never the cluster.
                "-c synchronous_commit=off"
            )
            # pg_ctl forks the server and returns; its own pid file is postmaster.pid.
            subprocess.run(
                self._as_server(
                    [bin_dir / "pg_ctl", "start", "-D", self.data, "-l", self.log, "-o", opts]
                ),
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_until(
            lambda: port_open(self.s.host, self.port),
            timeout_s=self.s.ready_timeout_s,
            what=f"PostgreSQL on {self.s.host}:{self.port}",
            log=self.log,
        )
        if not self._has_database(bin_dir):
            self._psql(bin_dir, f"CREATE DATABASE {DATABASE}")
        wait_until(self.ready, timeout_s=10, what="PostgreSQL login", log=self.log)

    def stop(self) -> bool:
        if self.running_pid() is None:
            return False
        run(
            self._as_server([find_bin_dir() / "pg_ctl", "stop", "-D", self.data, "-m", "fast"]),
            what="stopping PostgreSQL",
        )
        return True
