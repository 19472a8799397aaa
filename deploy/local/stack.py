"""Kafka, PostgreSQL and S3 on loopback, without Docker: ``python -m deploy.local.stack up``.

    install [--only ...]            fetch what is missing (Kafka jars), start nothing
    up [--only kafka,postgres,s3]   install what is missing, start what is not running, wait
    down                            stop what this stack started (pid files under .local/)
    status                          one line per service
    env                             ``export`` lines for the services' TAPMASK_* settings

Data lives under ``.local/`` (``TAPMASK_LOCAL_DIR``), so a second ``up`` is quick and keeps it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ._common import LaunchError, LocalService, LocalStackSettings
from .kafka import Kafka
from .postgres import Postgres
from .seaweed import Seaweed

NAMES = ("kafka", "postgres", "s3")


def services(settings: LocalStackSettings, names: Iterable[str] = NAMES) -> list[LocalService]:
    factories: dict[str, Callable[[LocalStackSettings], LocalService]] = {
        "kafka": Kafka,
        "postgres": Postgres,
        "s3": Seaweed,
    }
    unknown = set(names) - set(factories)
    if unknown:
        raise LaunchError(f"unknown service(s) {sorted(unknown)}; choose from {list(NAMES)}")
    return [factories[n](settings) for n in names]


def up(names: Iterable[str] = NAMES, settings: LocalStackSettings | None = None) -> dict[str, str]:
    """Make every named service ready (reusing running ones) and return their env vars."""
    settings = settings or LocalStackSettings()
    settings.dir.mkdir(parents=True, exist_ok=True)
    chosen = services(settings, names)
    # Installs and JVM start-up dominate; doing the three at once roughly halves the wait.
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        futures = {svc.name: pool.submit(svc.start) for svc in chosen}
    errors = []
    for name, fut in futures.items():
        exc = fut.exception()
        if exc is not None:
            errors.append(f"{name}: {exc}")
        else:
            print(f"{name}: {'started' if fut.result() else 'already running'}", file=sys.stderr)
    if errors:
        raise LaunchError("\n".join(errors))
    env: dict[str, str] = {}
    for svc in chosen:
        env.update(svc.env())
    return env


def down(names: Iterable[str] = NAMES, settings: LocalStackSettings | None = None) -> None:
    for svc in services(settings or LocalStackSettings(), names):
        stopped = svc.stop()
        print(f"{svc.name}: {'stopped' if stopped else 'not started by this stack'}")


def env(names: Iterable[str] = NAMES, settings: LocalStackSettings | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for svc in services(settings or LocalStackSettings(), names):
        out.update(svc.env())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.stack", description=__doc__)
    parser.add_argument("command", choices=["install", "up", "down", "status", "env"])
    parser.add_argument(
        "--only", default=",".join(NAMES), help="comma-separated subset of kafka,postgres,s3"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    settings = LocalStackSettings()
    try:
        if args.command == "install":
            settings.dir.mkdir(parents=True, exist_ok=True)
            for svc in services(settings, names):
                svc.install()
        elif args.command == "up":
            for key, value in up(names, settings).items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "down":
            down(names, settings)
        elif args.command == "env":
            for key, value in env(names, settings).items():
                print(f"export {key}={shlex.quote(value)}")
        else:
            for svc in services(settings, names):
                pid = svc.running_pid()
                state = "ready" if svc.ready() else "not ready"
                owner = f"pid {pid}" if pid else "not started by this stack"
                print(f"{svc.name}: {state} ({owner}) {' '.join(svc.env().values())}")
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
