"""The Kubernetes manifests give the services settings that fit their pods."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tapmask_notifier.settings import Settings as NotifierSettings
from tapmask_renderer.settings import Settings as RendererSettings
from tapmask_tracker.settings import Settings as TrackerSettings

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base"
# After the job's grace the worker still waits ~5 s for the abandoned job to stop, then
# publishes nothing more but must leave its group before the kubelet's SIGKILL.
AFTER_GRACE_S = 10


def manifest(name: str, kind: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((K8S / f"{name}.yaml").read_text())
    return next(d for d in docs if d and d.get("kind") == kind)


def container_env(deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the container's literal env (TAPMASK_*) as the pod would see it, and no other."""
    for name in [n for n in os.environ if n.startswith("TAPMASK_")]:
        monkeypatch.delenv(name)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for var in container.get("env", []):
        if "value" in var:
            monkeypatch.setenv(var["name"], str(var["value"]))


@pytest.mark.parametrize(
    ("service", "settings_cls"), [("tracker", TrackerSettings), ("renderer", RendererSettings)]
)
def test_worker_shutdown_grace_fits_the_pod_termination_grace(
    service: str, settings_cls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = manifest(service, "Deployment")
    pod_grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    container_env(deployment, monkeypatch)

    grace = settings_cls().worker.shutdown_grace_s

    # Long enough to finish most running jobs, short enough to leave cleanly before SIGKILL.
    assert grace + AFTER_GRACE_S <= pod_grace, (service, grace, pod_grace)
    assert grace >= 0.75 * pod_grace, (service, grace, pod_grace)


def test_notifier_asks_the_gateway_service_for_jobs_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container_env(manifest("notifier", "Deployment"), monkeypatch)
    gateway = manifest("gateway", "Service")

    url = NotifierSettings().gateway_url

    [port] = gateway["spec"]["ports"]
    name = gateway["metadata"]["name"]
    expected = f"http://{name}" if port["port"] == 80 else f"http://{name}:{port['port']}"
    assert url == expected
