"""The command line installed on its own, as a user installs it from a clone: only ``./cli``
(and what it depends on) into a fresh virtualenv, then ``tapmask --version``.

uv, not pip: the CLI's tracker and renderer packages are this workspace's, found through its
``[tool.uv.sources]``; plain ``pip install ./cli`` cannot find them (issue #11 item 1)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _uv() -> list[str]:
    # As the Makefile finds it: on PATH, else the one `pip install uv` put beside python3.
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def test_the_cli_alone_installs_into_a_fresh_virtualenv_and_runs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = subprocess.run(
        [*_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    installed = subprocess.run(
        [*_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "./cli"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr

    version = subprocess.run(
        [str(venv / "bin" / "tapmask"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    declared = tomllib.loads((ROOT / "cli" / "pyproject.toml").read_text())["project"]["version"]
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"tapmask {declared}"
