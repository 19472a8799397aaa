"""A public default secret never starts silently (issue 9): the gateway and the notifier
refuse a placeholder from this repository or a short secret unless TAPMASK_DEV_MODE says
this is a development machine, and the local launcher hands them a secret of their own."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tapmask_runtime.settings import require_token_secret, token_secret_problem

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from deploy.local.system import local_token_secret

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("service", ["gateway", "notifier"])
@pytest.mark.parametrize(
    ("secret", "reason"),
    [(None, "placeholder"), ("hunter2hunter2", "has 14 characters; at least 32")],
    ids=["default", "short"],
)
def test_the_service_refuses_to_start_on_a_weak_secret(
    service: str, secret: str | None, reason: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TAPMASK_TOKEN_SECRET",)}
    env.pop("TAPMASK_DEV_MODE", None)
    if secret is not None:
        env["TAPMASK_TOKEN_SECRET"] = secret
    # Ports of its own, should it start (the old behaviour): the test then times out.
    env["TAPMASK_PORT"] = str(_free_port())
    env["TAPMASK_NOTIFIER__PORT"] = str(_free_port())
    done = subprocess.run(
        [str(BIN / f"tapmask-{service}")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"tapmask-{service}: refusing to start" in done.stderr
    assert reason in done.stderr and "TAPMASK_DEV_MODE=1" in done.stderr
    if secret:
        assert secret not in done.stderr  # a real but short secret is not printed


@pytest.mark.parametrize("secret", ["dev-only-change-me", "CHANGE-ME", "...", " changeme "])
def test_every_published_placeholder_is_refused(secret: str) -> None:
    # docker-compose's, the Kubernetes example's, ...: long enough does not make them secret.
    problem = token_secret_problem(secret.ljust(40, "-") if "change" in secret else secret)
    assert problem is not None and "placeholder" in problem


def test_development_mode_only_warns() -> None:
    problem = require_token_secret("tapmask-gateway", "dev-only-change-me", dev_mode=True)
    assert problem is not None and "placeholder" in problem
    with pytest.raises(SystemExit):
        require_token_secret("tapmask-gateway", "dev-only-change-me", dev_mode=False)


def test_a_random_secret_is_accepted() -> None:
    assert token_secret_problem(os.urandom(16).hex()) is None
    assert require_token_secret("tapmask-notifier", os.urandom(24).hex(), dev_mode=False) is None


def test_the_local_launcher_makes_and_keeps_a_secret_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAPMASK_TOKEN_SECRET", raising=False)
    first = local_token_secret(tmp_path)
    assert token_secret_problem(first) is None
    assert stat.S_IMODE((tmp_path / "token_secret").stat().st_mode) == 0o600
    assert local_token_secret(tmp_path) == first  # tokens outlive a restart
    assert local_token_secret(tmp_path / "other") != first
    monkeypatch.setenv("TAPMASK_TOKEN_SECRET", "x" * 40)
    assert local_token_secret(tmp_path) == "x" * 40
