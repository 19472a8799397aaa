"""Temp folders holding users' videos while a stage runs, and their removal after a crash.

A stage stages its input (the user's video), masks and output in a temp folder that
``TemporaryDirectory`` removes when the stage ends. A worker killed mid-job (out of
memory, SIGKILL) never reaches that, and the user's video stayed on disk for good (issue
9). So each folder's name carries the owning process id, and at start-up a worker (or the
gateway) removes the folders of processes that no longer exist: never another live
process's, even when several share one temp dir.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("tapmask.workdirs")

_OWNED = re.compile(r"^tapmask-[a-z]+-(\d+)-")


def work_dir_prefix(stage: str) -> str:
    """``TemporaryDirectory(prefix=...)`` for ``stage`` (e.g. ``track``), owned by this process."""
    return f"tapmask-{stage}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_stale_work_dirs(parent: Path | None = None) -> list[Path]:
    """Remove ``parent``'s (default: the temp dir's) TapMask work folders whose owner
    process is gone; returns what was removed."""
    parent = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in parent.iterdir():
            match = _OWNED.match(entry.name)
            if match is None or not entry.is_dir() or entry.is_symlink():
                continue
            pid = int(match.group(1))
            if pid == os.getpid() or _alive(pid):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.info("removed %d work folder(s) left by stopped processes", len(removed))
    return removed
