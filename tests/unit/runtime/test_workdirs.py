"""A worker killed mid-job left the user's video in its temp folder for good (issue 9):
at start-up the folders of processes that are gone are removed, never a live one's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tapmask_runtime.workdirs import sweep_stale_work_dirs, work_dir_prefix


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_folders_of_stopped_processes_go_and_live_ones_stay(tmp_path: Path) -> None:
    dead = tmp_path / f"tapmask-track-{_dead_pid()}-abc123"
    (dead / "sub").mkdir(parents=True)
    (dead / "input.mp4").write_bytes(b"a user's video")
    (dead / "sub" / "masks.tmask").write_bytes(b"masks")
    live_parent = tmp_path / f"tapmask-render-{os.getppid()}-def456"
    live_parent.mkdir()
    mine = Path(tempfile.mkdtemp(prefix=work_dir_prefix("probe"), dir=tmp_path))
    other = tmp_path / "tapmask-notes"
    other.mkdir()
    unrelated = tmp_path / "someone-elses-123-x"
    unrelated.mkdir()

    removed = sweep_stale_work_dirs(tmp_path)

    assert removed == [dead] and not dead.exists()
    assert live_parent.exists() and mine.exists() and other.exists() and unrelated.exists()
    assert mine.name.startswith(f"tapmask-probe-{os.getpid()}-")


def test_a_missing_work_dir_is_no_error(tmp_path: Path) -> None:
    assert sweep_stale_work_dirs(tmp_path / "not-there") == []
