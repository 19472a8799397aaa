"""Validate rendered Kubernetes manifests (YAML on stdin) offline; print one JSON report.

Run with the checkers' interpreter (``.local/checks/bin/python``, from ``make install-checks``):

    kustomize build deploy/k8s/overlays/aws \
        | .local/checks/bin/python deploy/checks/validate_manifests.py

- built-in kinds: ``kubernetes-validate``'s bundled OpenAPI schemas, strict (an unknown or
  misspelt field is an error, not silently dropped by the API server), at ``KUBERNETES_VERSION``;
- KEDA kinds (``keda.sh/v1alpha1``): the JSON Schema of the ``cloudcoil-models-keda`` models,
  generated from KEDA's CRDs, made strict the same way (``additionalProperties: false``
  wherever the CRD lists the properties).

Output: ``{"checked": [[kind, name], ...], "errors": [[kind, name, message], ...]}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from cloudcoil.models.keda import v1alpha1 as keda

# The EKS version deploy/terraform asks for (eks.tf: cluster_version).
KUBERNETES_VERSION = "1.33.0"

KEDA_MODELS = {
    "ScaledObject": keda.ScaledObject,
    "ScaledJob": keda.ScaledJob,
    "TriggerAuthentication": keda.TriggerAuthentication,
    "ClusterTriggerAuthentication": keda.ClusterTriggerAuthentication,
}


def _strict(schema: Any) -> Any:
    """Forbid properties the schema does not list (objects with ``properties`` only)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def keda_schema(kind: str) -> dict[str, Any]:
    schema = KEDA_MODELS[kind].model_json_schema(by_alias=True)
    strict: dict[str, Any] = _strict(schema)
    # The models mark metadata and status loosely; the CRD is what matters in spec.
    strict.setdefault("properties", {})["metadata"] = {"type": "object"}
    return strict


def check(doc: dict[str, Any]) -> str | None:
    kind = doc.get("kind", "")
    if str(doc.get("apiVersion", "")).startswith("keda.sh/"):
        if kind not in KEDA_MODELS:
            return f"unknown KEDA kind {kind}"
        errors = sorted(
            jsonschema.Draft202012Validator(keda_schema(kind)).iter_errors(doc),
            key=lambda e: list(e.path),
        )
        if errors:
            e = errors[0]
            return f"{'/'.join(map(str, e.path))}: {e.message}"
        return None
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'/'.join(map(str, exc.path))}: {exc.message}"
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return f"no schema: {exc}"
    return None


def main() -> int:
    checked: list[list[str]] = []
    errors: list[list[str]] = []
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        name = doc.get("metadata", {}).get("name", "?")
        checked.append([doc.get("kind", "?"), name])
        problem = check(doc)
        if problem is not None:
            errors.append([doc.get("kind", "?"), name, problem])
    json.dump({"checked": checked, "errors": errors}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
