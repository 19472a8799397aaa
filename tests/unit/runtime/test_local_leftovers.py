"""`make up` after an earlier one whose supervisor was killed (issue 9): the services that
supervisor left running in their own sessions are found by their pid files and stopped
before anything starts; a live supervisor's services are left alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from deploy.local._common import LocalStackSettings, pid_alive
from deploy.local.system import Supervisor


@pytest.fixture
def leftover() -> Iterator[subprocess.Popen[bytes]]:
    """A 'service' in its own session, as the supervisor starts them."""
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _supervisor_of(tmp_path: Path, service: subprocess.Popen[bytes]) -> Supervisor:
    """A supervisor home in ``tmp_path`` whose pid file names ``service`` as the gateway."""
    supervisor = Supervisor(LocalStackSettings(dir=tmp_path))
    supervisor.home.mkdir(parents=True)
    supervisor.pid_file("gateway").write_text(f"{service.pid}\n")
    return supervisor


def test_services_of_a_killed_supervisor_are_stopped(
    tmp_path: Path, leftover: subprocess.Popen[bytes]
) -> None:
    supervisor = _supervisor_of(tmp_path, leftover)
    supervisor.own_pid_file.write_text(f"{_dead_pid()}\n")

    assert supervisor.clear_leftovers() == ["gateway"]

    leftover.wait(timeout=30)
    assert not supervisor.pid_file("gateway").exists()
    assert not supervisor.own_pid_file.exists()


def test_a_live_supervisors_services_are_left_alone(
    tmp_path: Path, leftover: subprocess.Popen[bytes]
) -> None:
    supervisor = _supervisor_of(tmp_path, leftover)
    supervisor.own_pid_file.write_text(f"{leftover.pid}\n")  # some live process

    assert supervisor.clear_leftovers() == []
    assert pid_alive(leftover.pid)
