"""What the deploy tests read: the rendered Kubernetes manifests and the parsed Terraform.

Both come from the checkers `make install-checks` installs (kustomize in .local/bin, the
PyPI checkers in the .local/checks venv). Missing, the tests fail with that fix; they never
skip.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
TERRAFORM = DEPLOY / "terraform"
CHECKS = ROOT / ".local" / "checks" / "bin"
KUSTOMIZE = ROOT / ".local" / "bin" / "kustomize"
OVERLAYS = ("base", "overlays/aws")


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make install-checks`", pytrace=False)
    return path


def run(cmd: list[str | Path], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=300, check=False, **kw
    )


def assert_checkov_clean(target: Path, framework: str, min_resources: int) -> None:
    """checkov (the ``framework`` checks) on ``target`` finds nothing: no failed check, no
    parsing error, at least ``min_resources`` resources read (so it read them at all), and
    every skipped check says why in a real sentence, not a bare id."""
    checkov = tool(CHECKS / "checkov")
    done = run([checkov, "-d", target, "--framework", framework, "--compact", "-o", "json"])
    report = json.loads(done.stdout)
    [result] = report if isinstance(report, list) else [report]
    failed = [(f["check_id"], f["resource"]) for f in result["results"]["failed_checks"]]
    assert failed == []
    assert result["summary"]["parsing_errors"] == 0
    assert result["summary"]["resource_count"] >= min_resources
    for skipped in result["results"]["skipped_checks"]:
        reason = skipped["check_result"]["suppress_comment"]
        assert len(reason) > 30, skipped["check_id"]  # a real reason, not a bare id


def render(overlay: str) -> str:
    done = run([tool(KUSTOMIZE), "build", K8S / overlay])
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(overlay, YAML) as `kubectl apply -k deploy/k8s/<overlay>` would apply it."""
    return request.param, render(request.param)


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="session")
def aws() -> list[dict[str, Any]]:
    """The production overlay's objects."""
    return docs_of(render("overlays/aws"))


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


_HCL_TO_JSON = """
import json, sys
from pathlib import Path
import hcl2
out = {}
for f in sorted(Path(sys.argv[1]).glob("*.tf")):
    with f.open() as fh:
        for block, items in hcl2.load(fh).items():
            out.setdefault(block, []).extend(items)
json.dump(out, sys.stdout, default=str)
"""


@pytest.fixture(scope="session")
def terraform() -> dict[str, Any]:
    """Every block of deploy/terraform/*.tf, parsed with the HCL parser checkov uses.

    Resources are flattened to {"<type>.<name>": body} (data sources "data.<type>.<name>",
    locals "local.<name>", variables "var.<name>"); bodies keep python-hcl2's shape
    (each attribute a one-element list, `${...}` expressions as text)."""
    done = run([tool(CHECKS / "python"), "-c", _HCL_TO_JSON, TERRAFORM])
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout)
    flat: dict[str, Any] = {}
    for block, prefix in (("resource", ""), ("data", "data.")):
        for item in parsed.get(block, []):
            for rtype, named in item.items():
                for name, body in named.items():
                    flat[f"{prefix}{rtype}.{name}"] = body
    for item in parsed.get("locals", []):
        for key, value in item.items():
            flat[f"local.{key}"] = value
    for item in parsed.get("variable", []):
        for key, value in item.items():
            flat[f"var.{key}"] = value
    return flat
