"""Process plumbing shared by the local launchers: paths, ports, pid files, waiting."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class LocalStackSettings(BaseSettings):
    """Where the local stack keeps its data and which loopback ports it uses."""

    model_config = SettingsConfigDict(env_prefix="TAPMASK_LOCAL_")

    dir: Path = REPO_ROOT / ".local"
    """Installed pieces and data; kept between runs so a second start is fast."""
    port_offset: int = 0
    """Added to every port, so a second checkout can run its own stack beside this one."""
    host: str = "127.0.0.1"
    """Loopback only: nothing here is meant to be reachable from other machines."""
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = 5433
    """Not 5432, so an apt-installed cluster on the default port does not clash."""
    s3_port: int = 8333
    seaweed_master_port: int = 9333
    seaweed_volume_port: int = 9340
    seaweed_filer_port: int = 8888
    ready_timeout_s: float = 90.0
    """Cold JVM start on two shared cores can take a while; this bounds the wait."""

    def port(self, base: int) -> int:
        return base + self.port_offset


class LaunchError(RuntimeError):
    """A local service could not be installed, started or reached."""


class LocalService(ABC):
    """One piece of the stack. ``start`` reuses whatever already answers on its port."""

    name: str
    port: int
    answers: str
    """What a healthy server on ``port`` does, for the error when something else holds it."""

    def __init__(self, settings: LocalStackSettings) -> None:
        self.s = settings

    @abstractmethod
    def install(self) -> None:
        """Fetch what is missing; start nothing."""

    @abstractmethod
    def ready(self) -> bool:
        """A real request succeeds (not merely an open port)."""

    @abstractmethod
    def running_pid(self) -> int | None:
        """The pid of the server this stack started, if it is alive."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """The TAPMASK_* settings that point a service at this piece."""

    @abstractmethod
    def _start(self) -> None:
        """Install, start unless our own process is already starting, wait until ready."""

    @abstractmethod
    def stop(self) -> bool:
        """Stop what this stack started; False when nothing was running."""

    def start(self) -> bool:
        """Make the piece ready; True if this call started it, False if it already ran."""
        if self.ready():
            return False
        if self.running_pid() is None and port_open(self.s.host, self.port):
            raise LaunchError(
                f"port {self.port} is taken by something that does not {self.answers}; "
                "stop it or set TAPMASK_LOCAL_PORT_OFFSET"
            )
        self._start()
        return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until true; fail fast if the process died, with its log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise LaunchError(f"{what} exited while starting.{log_tail(log)}")
        time.sleep(0.5)
    raise LaunchError(f"{what} not ready after {timeout_s:.0f}s.{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(text)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); it is dead for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def spawn(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    pid_file: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Start a daemon in its own session (Ctrl-C in the caller does not reach it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [os.fspath(c) for c in cmd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def terminate(pid_file: Path, *, what: str, grace_s: float = 20.0, group: bool = True) -> bool:
    """SIGTERM the process (group, for our daemons) in ``pid_file``; SIGKILL after a grace
    period."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.2)
    if pid_alive(pid):
        print(f"{what}: still running after {grace_s:.0f}s, killing it")
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # Only our own children can be reaped; others are reaped by init.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def run(cmd: Sequence[str | os.PathLike[str]], *, what: str, **kwargs: object) -> str:
    """Run a short command; raise with its output when it fails."""
    proc = subprocess.run(
        [os.fspath(c) for c in cmd],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if proc.returncode != 0:
        raise LaunchError(
            f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return str(proc.stdout)


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LaunchError(f"`{name}` not found on PATH. {hint}")
    return path


@dataclass(frozen=True)
class RunAs:
    """An unprivileged OS user to run a server as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_server(cls, name: str) -> RunAs | None:
        """None when we are not root (then we run it as ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                what=f"creating system user {name}",
            )
            entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid)

    def own(self, path: Path) -> None:
        for p in [path, *path.rglob("*")]:
            os.chown(p, self.uid, self.gid, follow_symlinks=False)

    def can_enter(self, path: Path) -> bool:
        """Whether this user can traverse every directory down to ``path``."""
        path.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(self.wrap(["test", "-x", path]), capture_output=True, check=False)
        return probe.returncode == 0

    def wrap(self, cmd: Sequence[str | os.PathLike[str]]) -> list[str]:
        return ["runuser", "-u", self.name, "--", *(os.fspath(c) for c in cmd)]
