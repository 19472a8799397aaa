"""The whole system on this machine: ``python -m deploy.local.system up|down``.

``up`` starts Kafka, PostgreSQL and S3 (see stack.py), then the four services with the stack's
``TAPMASK_*`` settings, waits for the gateway's ``/api/health`` and prints its URL. Their output
goes to the terminal (prefixed) and to ``.local/services/<name>.log``. Ctrl-C, SIGTERM or a
service dying stops the services and the infrastructure this run started. ``down`` stops
services and infrastructure left running by an earlier run (pid files).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from . import stack
from ._common import LaunchError, LocalStackSettings, log_tail, read_pid, terminate

SERVICES = ("gateway", "tracker", "renderer", "notifier")


def service_command(name: str) -> list[str]:
    """The service's console script from the venv (``tapmask-<name>``)."""
    script = Path(sys.executable).with_name(f"tapmask-{name}")
    if script.exists():
        return [str(script)]
    found = shutil.which(f"tapmask-{name}")
    if found:
        return [found]
    raise LaunchError(
        f"the {name} service has no `tapmask-{name}` entry point in {script.parent}; "
        "run `make install` (uv sync --all-packages) first"
    )


def local_token_secret(home: Path) -> str:
    """The job-token secret of this checkout's services: ``TAPMASK_TOKEN_SECRET`` when set,
    else a random one made on the first ``up`` and kept (mode 600) in ``home``, so tokens
    outlive a restart. The services refuse the repository's placeholder (issue 9)."""
    given = os.environ.get("TAPMASK_TOKEN_SECRET")
    if given:
        return given
    path = home / "token_secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _pump(stream: IO[bytes], prefix: str, log: IO[bytes]) -> None:
    for line in iter(stream.readline, b""):
        log.write(line)
        log.flush()
        sys.stdout.buffer.write(prefix.encode() + line)
        sys.stdout.buffer.flush()


class Supervisor:
    def __init__(self, settings: LocalStackSettings) -> None:
        self.settings = settings
        self.home = settings.dir / "services"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    @property
    def own_pid_file(self) -> Path:
        """The supervisor's own pid: `down` from another shell asks it to stop everything."""
        return self.home / "supervisor.pid"

    def pid_file(self, name: str) -> Path:
        return self.home / f"{name}.pid"

    def clear_leftovers(self) -> list[str]:
        """Stop services an earlier ``up`` left running when its supervisor was killed (its
        own pid file names a dead process; theirs, live ones in their own sessions): they
        hold the ports and would make this start fail. Returns the names stopped."""
        if read_pid(self.own_pid_file) is not None:
            return []  # a live supervisor: its services are not leftovers
        stopped = [name for name in SERVICES if read_pid(self.pid_file(name)) is not None]
        for name in stopped:
            print(f"{name}: left running by an earlier `make up`; stopping it")
        self.stop()
        self.own_pid_file.unlink(missing_ok=True)
        return stopped

    def start(self, env: dict[str, str]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        commands = {name: service_command(name) for name in SERVICES}  # all or none
        for name, cmd in commands.items():
            if read_pid(self.pid_file(name)) is not None:
                raise LaunchError(
                    f"{name} is already running (pid file {self.pid_file(name)}); "
                    "run `make down` first"
                )
            log = (self.home / f"{name}.log").open("ab")
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    **env,
                    "TAPMASK_TOKEN_SECRET": local_token_secret(self.home),
                },
                # Own process group: Ctrl-C reaches us, and we stop services in order.
                start_new_session=True,
            )
            assert proc.stdout is not None
            threading.Thread(
                target=_pump, args=(proc.stdout, f"[{name:>8}] ", log), daemon=True
            ).start()
            self.pid_file(name).write_text(f"{proc.pid}\n")
            self.procs[name] = proc

    def wait_healthy(self, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:500]!r}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(1)
        raise LaunchError(f"{url} not healthy after {timeout_s:.0f}s: {last}")

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and not self.stopping.is_set():
                raise LaunchError(
                    f"{name} exited with code {proc.returncode}"
                    + log_tail(self.home / f"{name}.log")
                )

    def stop(self) -> None:
        self.stopping.set()
        # Gateway first (no new jobs), then the workers and the notifier.
        for name in SERVICES:
            if terminate(self.pid_file(name), what=name, grace_s=20):
                print(f"{name}: stopped")


def up(gateway_url: str, health_timeout_s: float) -> int:
    began = time.monotonic()
    settings = LocalStackSettings()
    supervisor = Supervisor(settings)
    supervisor.clear_leftovers()
    infra = stack.services(settings)
    already = {svc.name for svc in infra if svc.ready()}

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    supervisor.home.mkdir(parents=True, exist_ok=True)
    supervisor.own_pid_file.write_text(f"{os.getpid()}\n")
    code = 0
    try:
        # Inside the try: when one piece fails to start, the ones this run started stop.
        env = stack.up(settings=settings)
        supervisor.start(env)
        supervisor.wait_healthy(f"{gateway_url}/api/health", health_timeout_s)
        took = time.monotonic() - began
        print(f"\nTapMask is up: {gateway_url}   ({took:.0f} s; Ctrl-C stops it)\n", flush=True)
        while True:
            supervisor.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping…")
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        supervisor.stop()
        started = [svc.name for svc in infra if svc.name not in already]
        if started:
            stack.down(started, settings)
        supervisor.own_pid_file.unlink(missing_ok=True)
    return code


def down() -> None:
    settings = LocalStackSettings()
    supervisor = Supervisor(settings)
    # A running `up` stops its services and the infrastructure it started, in order.
    terminate(supervisor.own_pid_file, what="make up", grace_s=90, group=False)
    supervisor.stop()  # whatever is left, e.g. after `up` was killed
    stack.down(settings=settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.system", description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--gateway-url", default=os.environ.get("TAPMASK_LOCAL_GATEWAY_URL"))
    parser.add_argument("--health-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            url = args.gateway_url or f"http://localhost:{os.environ.get('TAPMASK_PORT', '8000')}"
            return up(url, args.health_timeout)
        down()
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
