"""The command line installed on its own, as a user installs it from a clone: only ``./cli``
(and what it depends on) into a fresh virtualenv, then ``tapmask --version``.

uv, not pip: the CLI's processing, media and schema packages are this workspace's, found
through its ``[tool.uv.sources]``; plain ``pip install ./cli`` cannot find them. What comes
along is the processing alone: none of the workers' Kafka, S3 or Prometheus clients."""

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


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_cli_alone_installs_into_a_fresh_virtualenv_and_runs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _run(*_uv(), "venv", "--quiet", "--python", sys.executable, venv)
    _run(*_uv(), "pip", "install", "--quiet", "--python", python, "./cli", cwd=ROOT)

    declared = tomllib.loads((ROOT / "cli" / "pyproject.toml").read_text())["project"]["version"]
    assert _run(venv / "bin" / "tapmask", "--version").strip() == f"tapmask {declared}"
    installed = _run(python, "-c", "import importlib.metadata as m; print(*sorted("
                     "d.metadata['Name'].lower() for d in m.distributions()))").split()
    assert "tapmask-processing" in installed
    servers = {"aiokafka", "faststream", "boto3", "prometheus-client", "tapmask-runtime",
               "tapmask-tracker", "tapmask-renderer", "litestar", "asyncpg"}
    assert not servers & set(installed), servers & set(installed)
