"""The Kubernetes manifests, rendered as `kubectl apply -k` applies them, read as an operator
would: valid for the API server and KEDA, scaled on Kafka lag from zero, probed at endpoints
the services really serve, locked down, and consistent with the code and the Terraform."""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from deploy_helpers import (
    CHECKS,
    DEPLOY,
    K8S,
    ROOT,
    assert_checkov_clean,
    docs_of,
    find,
    render,
    run,
    tool,
)
from prometheus_client import CollectorRegistry

from tapmask_runtime.kafka import make_broker
from tapmask_runtime.probes import probe_app
from tapmask_runtime.settings import KafkaSettings
from tapmask_schemas import topics

WORKERS = {"tracker": topics.JOB_CREATED, "renderer": topics.MASKS_READY}
SERVICES = ("gateway", "notifier", "tracker", "renderer")
# AWS gives a spot instance two minutes' notice before reclaiming it.
SPOT_NOTICE_S = 120


def validate(yaml_text: str) -> dict[str, Any]:
    done = run(
        [tool(CHECKS / "python"), DEPLOY / "checks" / "validate_manifests.py"], input=yaml_text
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}


def containers(pod: dict[str, Any], init: bool = True) -> list[dict[str, Any]]:
    return [*(pod.get("initContainers", []) if init else []), *pod["containers"]]


def quantity(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


# --- schemas -----------------------------------------------------------------------------


def test_every_manifest_passes_the_kubernetes_and_keda_schemas(rendered: tuple[str, str]) -> None:
    overlay, text = rendered
    report = validate(text)

    assert report["errors"] == [], overlay
    kinds = [kind for kind, _ in report["checked"]]
    assert kinds.count("Deployment") == 4
    assert kinds.count("ScaledObject") == 2
    assert kinds.count("PodDisruptionBudget") == 4
    assert {"TriggerAuthentication", "Ingress", "NetworkPolicy", "ConfigMap"} <= set(kinds)


def test_the_schema_check_catches_a_misspelt_field(aws: list[dict[str, Any]]) -> None:
    """The validation above is strict: a field the API server would silently drop fails."""
    tracker = find(aws, "Deployment", "tracker")
    tracker["spec"]["template"]["spec"]["terminationGracePeriod"] = 120
    scaled = find(aws, "ScaledObject", "renderer")
    scaled["spec"]["minReplicas"] = 0

    report = validate(yaml.safe_dump_all(aws))

    assert {(kind, name) for kind, name, _ in report["errors"]} == {
        ("Deployment", "tracker"),
        ("ScaledObject", "renderer"),
    }


# --- what `apply -k` applies ---------------------------------------------------------------


def test_apply_brings_no_secret_and_the_example_names_every_key_read(
    rendered: tuple[str, str],
) -> None:
    docs = docs_of(rendered[1])
    assert [d for d in docs if d["kind"] == "Secret"] == []

    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    keys = set(example["stringData"])
    for d in docs:
        if d["kind"] == "TriggerAuthentication":
            for ref in d["spec"]["secretTargetRef"]:
                assert ref["name"] == example["metadata"]["name"]
                assert ref["key"] in keys
        if d["kind"] == "Deployment":
            for c in containers(d["spec"]["template"]["spec"]):
                for src in c.get("envFrom", []):
                    if "secretRef" in src:
                        assert src["secretRef"]["name"] == example["metadata"]["name"]
    # Not part of any kustomization: applying it would overwrite the real one.
    for kustomization in K8S.rglob("kustomization.yaml"):
        listed = yaml.safe_load(kustomization.read_text()).get("resources", [])
        assert not [r for r in listed if "secret" in r], kustomization


# --- scaling -------------------------------------------------------------------------------


def _consumed(service: str) -> tuple[str, set[str]]:
    """The consumer group of the worker's StageWorker and every topic it reads, as the real
    service wires them (settings' defaults, no Kafka needed)."""
    unused: Any = object()  # neither the store nor the stage's work is reached here
    svc: Any
    if service == "tracker":
        from tapmask_tracker.app import build_service as tracker_service
        from tapmask_tracker.settings import Settings as TrackerSettings

        svc = tracker_service(TrackerSettings(), store=unused, track=unused)
    else:
        from tapmask_renderer.app import build_service as renderer_service
        from tapmask_renderer.settings import Settings as RendererSettings

        svc = renderer_service(RendererSettings(), store=unused, render=unused)
    subscriber = svc.worker.subscriber
    return str(subscriber.group_id), set(subscriber.topic_names)


@pytest.mark.parametrize("service", sorted(WORKERS))
def test_workers_scale_from_zero_on_their_consumer_groups_lag(
    service: str, aws: list[dict[str, Any]]
) -> None:
    scaled = find(aws, "ScaledObject", service)
    config = find(aws, "ConfigMap", "tapmask-config")["data"]
    spec = scaled["spec"]
    group, topics_read = _consumed(service)

    assert spec["scaleTargetRef"]["name"] == service
    find(aws, "Deployment", service)
    assert spec["minReplicaCount"] == 0
    # The public topic and the worker's own retry topic: a retry waiting or running counts
    # as work, or the cooldown would scale the worker to zero mid-retry and strand the job.
    assert WORKERS[service] in topics_read and len(topics_read) == 2
    watched = set()
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["activationLagThreshold"] == "0"  # the first waiting job wakes it
        # The group the worker really consumes with (StageWorker: tapmask-<service>).
        assert meta["consumerGroup"] == group == f"tapmask-{service}"
        assert meta["offsetResetPolicy"] == "earliest"
        assert meta["bootstrapServersFromEnv"] in config
        # SASL as the services log in (ConfigMap: SASL_SSL, SCRAM-SHA-512).
        assert config["TAPMASK_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
        keda_sasl = {"SCRAM-SHA-512": "scram_sha512", "SCRAM-SHA-256": "scram_sha256"}
        assert meta["sasl"] == keda_sasl[config["TAPMASK_KAFKA__SASL_MECHANISM"]]
        assert meta["tls"] == "enable"
        find(aws, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        watched.add(meta["topic"])
    assert watched == topics_read
    assert len(spec["triggers"]) == len(topics_read)
    # Replicas past the partitions would idle.
    assert spec["maxReplicaCount"] <= int(config["TAPMASK_KAFKA__TOPIC_PARTITIONS"])


def test_no_hpa_fights_keda(rendered: tuple[str, str]) -> None:
    assert [d for d in docs_of(rendered[1]) if d["kind"] == "HorizontalPodAutoscaler"] == []


# --- probes --------------------------------------------------------------------------------


def _routes(service: str) -> set[str]:
    """The paths the service's HTTP port really answers."""
    if service == "gateway":
        from tapmask_gateway.app import create_app
        from tapmask_gateway.settings import Settings

        return {r.path for r in create_app(Settings()).routes}
    if service == "notifier":
        from tapmask_notifier.app import create_app as notifier_app
        from tapmask_notifier.settings import Settings as NotifierSettings

        return {r.path for r in notifier_app(NotifierSettings()).routes}
    raise AssertionError(service)


async def _worker_status(path: str) -> int:
    broker = make_broker(KafkaSettings(bootstrap_servers="127.0.0.1:1"))  # nothing there
    app = probe_app(CollectorRegistry(), broker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        return (await client.get(path)).status_code


@pytest.mark.parametrize("service", SERVICES)
async def test_liveness_and_readiness_are_apart_and_really_served(
    service: str, aws: list[dict[str, Any]]
) -> None:
    pod = find(aws, "Deployment", service)["spec"]["template"]["spec"]
    [main] = pod["containers"]
    live, ready = main["livenessProbe"]["httpGet"], main["readinessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    env = {e["name"]: e.get("value") for e in main.get("env", [])}

    assert live["path"] != ready["path"]
    assert live["port"] in ports and ready["port"] in ports
    if service in WORKERS:
        # Served on TAPMASK_METRICS__PORT by tapmask_runtime.probes.
        assert int(env["TAPMASK_METRICS__PORT"]) == ports[live["port"]]
        assert await _worker_status(live["path"]) == 200
        # Kafka unreachable here: readiness says so (it is not a 404).
        assert await _worker_status(ready["path"]) == 500
    else:
        routes = _routes(service)
        assert live["path"] in routes
        assert ready["path"] in routes
    assert main["livenessProbe"].get("failureThreshold", 3) >= 3


async def test_worker_liveness_checks_nothing_outside_the_process() -> None:
    """/livez answers 200 while Kafka is unreachable: an outage must not restart pods."""
    assert await _worker_status("/livez") == 200
    assert await _worker_status("/readyz") == 500
    assert await _worker_status("/nothing") == 404


# --- locked down ---------------------------------------------------------------------------


def test_pods_run_as_the_images_non_root_user_with_read_only_roots(
    rendered: tuple[str, str],
) -> None:
    image_users = {
        re.search(r"^USER (\S+)$", f.read_text(), re.M).group(1)  # type: ignore[union-attr]
        for f in (DEPLOY / "docker").glob("*.Dockerfile")
    }
    for name, deployment in deployments(docs_of(rendered[1])).items():
        pod = deployment["spec"]["template"]["spec"]
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert image_users == {str(security["runAsUser"])}, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in containers(pod):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            # What a service writes (its scratch in /tmp, $HOME) is a volume, not the root.
            writable = {m["mountPath"] for m in c.get("volumeMounts", []) if not m.get("readOnly")}
            for mount in writable:
                [vol] = [m["name"] for m in c["volumeMounts"] if m["mountPath"] == mount]
                assert "emptyDir" in volumes[vol], (name, mount)
            home = {e["name"]: e.get("value") for e in c.get("env", [])}.get("HOME")
            if home is not None:
                assert any(home.startswith(m) for m in writable), (name, home)


def test_every_deployment_has_a_disruption_budget(rendered: tuple[str, str]) -> None:
    docs = docs_of(rendered[1])
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for name, deployment in deployments(docs).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, name
        spec = covering[0]["spec"]
        if deployment["spec"].get("replicas", 1) >= 2:  # the HTTP services stay up in a drain
            assert spec.get("minAvailable", 0) >= 1, name


def test_scratch_space_is_requested(aws: list[dict[str, Any]]) -> None:
    """A node must have the disk a pod's emptyDirs may fill (the workers' 20 GiB of staged
    video), or the kubelet evicts the pod mid-job."""
    for name, deployment in deployments(aws).items():
        pod = deployment["spec"]["template"]["spec"]
        limits = sum(
            quantity(v["emptyDir"]["sizeLimit"]) for v in pod.get("volumes", []) if "emptyDir" in v
        )
        requested = sum(
            quantity(c["resources"]["requests"]["ephemeral-storage"]) for c in pod["containers"]
        )
        assert requested >= limits, (name, requested / 2**30, limits / 2**30)


# --- the tracker on spot GPUs, with its models ---------------------------------------------


def _tf_one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def test_the_tracker_lands_only_on_the_spot_gpu_pool_and_outlives_its_notice(
    aws: list[dict[str, Any]], terraform: dict[str, Any]
) -> None:
    pod = find(aws, "Deployment", "tracker")["spec"]["template"]["spec"]
    taints = _tf_one(terraform["local.gpu_taints"])
    gpu_labels = _tf_one(terraform["local.gpu_labels"])
    system_labels = _tf_one(terraform["aws_eks_node_group.system"]["labels"])
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}

    for taint in taints:  # every taint of the GPU nodes is tolerated
        assert any(
            t["key"] == taint["key"]
            and t["effect"] == effects[taint["effect"]]
            and (t["operator"] == "Exists" or t.get("value") == taint["value"])
            for t in pod["tolerations"]
        ), taint
    [term] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    for expr in term["matchExpressions"]:  # the GPU nodes' labels satisfy the requirement
        assert expr["operator"] == "In" and gpu_labels.get(expr["key"]) in expr["values"]
    assert _tf_one(terraform["aws_eks_node_group.gpu"]["capacity_type"]) == "SPOT"
    [main] = pod["containers"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["terminationGracePeriodSeconds"] >= SPOT_NOTICE_S
    # Everything else stays on the system nodes (none tolerates the GPU taints).
    for name in ("gateway", "notifier", "renderer"):
        other = find(aws, "Deployment", name)["spec"]["template"]["spec"]
        assert other["nodeSelector"].items() <= system_labels.items(), name
        assert not other.get("tolerations"), name


def test_the_tracker_gets_its_models_from_the_bucket_or_does_not_start(
    aws: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tapmask_tracker.settings import Settings as TrackerSettings

    pod = find(aws, "Deployment", "tracker")["spec"]["template"]["spec"]
    config = find(aws, "ConfigMap", "tapmask-config")["data"]
    [init] = pod["initContainers"]
    [main] = pod["containers"]
    env = {e["name"]: e["value"] for e in main["env"]}
    for name in [n for n in list(__import__("os").environ) if n.startswith("TAPMASK_")]:
        monkeypatch.delenv(name)
    for key, value in {**config, **env}.items():
        if key.startswith("TAPMASK_"):
            monkeypatch.setenv(key, value)

    settings = TrackerSettings()

    # The learned models: pulled (sha256-checked) by the init container; exit 1 when absent.
    assert init["command"] == ["python", "-m", "tapmask_tracker.models_s3", "pull"]
    models_dir = env["TAPMASK_MODELS_DIR"]
    [models_mount] = [m for m in init["volumeMounts"] if m["mountPath"] == models_dir]
    assert any(
        m["name"] == models_mount["name"] and m["mountPath"] == env["TAPMASK_MODELS_DIR"]
        for m in main["volumeMounts"]
    )
    # SAM 2 or a failed start, never the CPU tracker quietly on a GPU node.
    assert settings.tracker.backend == "sam2"
    assert settings.tracker.device == "cuda"
    assert settings.tracker.models_bucket == config["TAPMASK_TRACKER__MODELS_BUCKET"]
    assert settings.tracker.sam2_checkpoint_key
    checkpoint = settings.tracker.sam2_checkpoint
    assert checkpoint is not None
    assert any(
        Path(m["mountPath"]) in checkpoint.parents and not m.get("readOnly")
        for m in main["volumeMounts"]
    )
    # The download and model load happen before the probe port opens: the startup probe
    # must allow them (a 149 MiB checkpoint, the model on the GPU).
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


# --- images --------------------------------------------------------------------------------


def test_images_are_pinned_to_one_tag_that_the_build_script_makes(
    rendered: tuple[str, str],
) -> None:
    script = (DEPLOY / "build-images.sh").read_text()
    built = set(re.findall(r"^build (\S+) ", script, re.M))
    tags = set()
    for deployment in deployments(docs_of(rendered[1])).values():
        for c in containers(deployment["spec"]["template"]["spec"]):
            image = c["image"]
            name, _, tag = image.partition("@")[0].rpartition(":")
            assert tag and tag != "latest", image
            assert name.rsplit("/", 1)[-1] in built, image
            tags.add(tag)
    assert len(tags) == 1, tags


# --- traffic -------------------------------------------------------------------------------


def _alb_match(pattern: str, path: str, path_type: str) -> bool:
    if path_type == "Prefix":
        return path == pattern or path.startswith(pattern.rstrip("/") + "/") or pattern == "/"
    return fnmatch.fnmatchcase(path, pattern)  # ALB path patterns: `*` and `?`


def test_the_ingress_sends_progress_streams_to_the_notifier(aws: list[dict[str, Any]]) -> None:
    [rule] = find(aws, "Ingress", "tapmask")["spec"]["rules"]
    paths = rule["http"]["paths"]

    def backend(path: str) -> str:
        for p in paths:  # first match wins, as the load balancer evaluates them
            if _alb_match(p["path"], path, p["pathType"]):
                return str(p["backend"]["service"]["name"])
        raise AssertionError(f"no rule for {path}")

    # The notifier's own SSE route, with a real job id.
    [sse] = [r for r in _routes("notifier") if r.endswith("/events")]
    job = uuid.uuid4()
    events = re.sub(r"\{[^}]+\}", str(job), sse)
    assert backend(events) == "notifier"
    assert backend(f"/api/jobs/{job}") == "gateway"
    assert backend(f"/api/jobs/{job}/download") == "gateway"
    assert backend("/api/upload/presigned") == "gateway"
    assert backend("/") == "gateway"


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    return all(
        labels.get(e["key"]) in e["values"] if e["operator"] == "In" else True
        for e in selector.get("matchExpressions", [])
    )


def _egress_ports(policies: list[dict[str, Any]], labels: dict[str, str]) -> set[int]:
    return {
        port["port"]
        for p in policies
        if "Egress" in p["spec"]["policyTypes"] and _selects(p, labels)
        for rule in p["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }


def test_network_policies_deny_by_default_and_open_only_what_each_service_uses(
    aws: list[dict[str, Any]],
) -> None:
    policies = [d for d in aws if d["kind"] == "NetworkPolicy"]
    default = find(aws, "NetworkPolicy", "default-deny")["spec"]
    assert default["podSelector"] == {} and set(default["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in default and "egress" not in default

    labels = {
        name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments(aws).items()
    }
    # Only the gateway reaches PostgreSQL.
    assert 5432 in _egress_ports(policies, labels["gateway"])
    for name in ("notifier", "tracker", "renderer"):
        assert 5432 not in _egress_ports(policies, labels[name]), name
    # Every service reaches Kafka (SASL_SSL) and DNS; the notifier reaches the gateway.
    for name in SERVICES:
        assert {53, 9096} <= _egress_ports(policies, labels[name]), name
    # The two HTTP services call each other (the ConfigMap's and the Deployments' URLs):
    # the notifier asks the gateway for old jobs, the gateway streams events from the
    # notifier. Each call must leave its pod and be let into the other's, on the pod port.
    config = find(aws, "ConfigMap", "tapmask-config")["data"]
    [notifier] = find(aws, "Deployment", "notifier")["spec"]["template"]["spec"]["containers"]
    notifier_env = {e["name"]: e.get("value") for e in notifier["env"]}
    calls = {
        ("notifier", "gateway"): notifier_env["TAPMASK_GATEWAY_URL"],
        ("gateway", "notifier"): config["TAPMASK_NOTIFIER_URL"],
    }
    for (source, target), url in calls.items():
        service = find(aws, "Service", target)
        assert httpx.URL(url).host == target, url
        [port] = [
            p["targetPort"]
            for p in service["spec"]["ports"]
            if p["port"] == (httpx.URL(url).port or 80)
        ]
        [main] = find(aws, "Deployment", target)["spec"]["template"]["spec"]["containers"]
        pod_port = {p["name"]: p["containerPort"] for p in main["ports"]}[port]
        assert _pod_rule(policies, "Egress", labels[source], labels[target], pod_port), url
        assert _pod_rule(policies, "Ingress", labels[target], labels[source], pod_port), url


def _pod_rule(
    policies: list[dict[str, Any]],
    direction: str,
    own: dict[str, str],
    peer: dict[str, str],
    port: int,
) -> bool:
    """Whether a policy selecting pods labelled ``own`` lets ``direction`` traffic to or from
    pods labelled ``peer`` (named by a podSelector) on ``port``."""
    key, side = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
        src.get("podSelector", {}).get("matchLabels", {}).items() <= peer.items()
        and "podSelector" in src
        and any(q["port"] == port for q in rule.get("ports", []))
        for p in policies
        if direction in p["spec"]["policyTypes"] and _selects(p, own)
        for rule in p["spec"].get(key, [])
        for src in rule.get(side, [])
    )


# --- scanners ------------------------------------------------------------------------------


def test_checkov_finds_nothing_unexplained_in_the_manifests(tmp_path: Path) -> None:
    (tmp_path / "aws.yaml").write_text(render("overlays/aws"))
    assert_checkov_clean(tmp_path, "kubernetes", min_resources=25)


def test_dockerfiles_pass_hadolint() -> None:
    files = sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile"))
    assert len(files) == 4
    done = run([tool(CHECKS / "hadolint"), "--no-color", *files])
    assert done.returncode == 0, done.stdout + done.stderr
