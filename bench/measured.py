"""What every benchmark records beside its figures: which code it measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tracker_source() -> str:
    """The commit measured, ``+dirty`` when the tracker's sources differ from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    tracking = "libs/processing/src/tapmask_processing/tracking"
    dirty = subprocess.run(
        [*git, "status", "--porcelain", tracking], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
