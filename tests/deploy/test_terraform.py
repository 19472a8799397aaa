"""deploy/terraform read as a reviewer would: the buckets locked and expiring with the
product's retention, the GPU pool spot and empty when idle, each service's role reaching
only the object keys its code uses. `terraform validate` cannot run here (the AWS provider
comes only from registry.terraform.io, which this project's machines cannot reach), so the
HCL is parsed (python-hcl2, as checkov does) and scanned by checkov."""

from __future__ import annotations

import fnmatch
import json
import math
import re
import uuid
from typing import Any

from deploy_helpers import TERRAFORM, assert_checkov_clean, find

from tapmask_gateway.domain.uploads import UPLOAD_PREFIX, input_key, masks_key, output_key
from tapmask_gateway.settings import Quotas
from tapmask_runtime.attempts import AttemptLedger
from tapmask_runtime.cancels import cancel_key
from tapmask_runtime.settings import KafkaSettings


def attempts(service: str, job: uuid.UUID) -> str:
    """The key of a worker's start count of a job (what the worker writes)."""
    return AttemptLedger(None, service).key(job)  # type: ignore[arg-type]


def one(value: Any) -> Any:
    """python-hcl2 wraps each attribute in a one-element list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def default(terraform: dict[str, Any], name: str) -> Any:
    return one(terraform[f"var.{name}"]["default"])


def for_each_over_buckets(body: dict[str, Any]) -> bool:
    return bool(one(body["for_each"]) == "${aws_s3_bucket.this}")


def test_both_buckets_are_private_and_encrypted_with_the_key(terraform: dict[str, Any]) -> None:
    assert set(one(terraform["local.buckets"])) == {"data", "models"}
    assert one(terraform["aws_s3_bucket.this"]["for_each"]) == "${local.buckets}"

    block = terraform["aws_s3_bucket_public_access_block.this"]
    assert for_each_over_buckets(block)
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert one(block[flag]) is True, flag

    sse = terraform["aws_s3_bucket_server_side_encryption_configuration.this"]
    assert for_each_over_buckets(sse)
    by_default = one(one(one(sse["rule"])["apply_server_side_encryption_by_default"]))
    assert one(by_default["sse_algorithm"]) == "aws:kms"
    assert one(by_default["kms_master_key_id"]) == "${aws_kms_key.main.arn}"
    assert one(terraform["aws_kms_key.main"]["enable_key_rotation"]) is True

    ownership = terraform["aws_s3_bucket_ownership_controls.this"]
    assert for_each_over_buckets(ownership)
    assert one(one(ownership["rule"])["object_ownership"]) == "BucketOwnerEnforced"


def test_job_files_expire_with_the_longest_retention_a_user_has(
    terraform: dict[str, Any],
) -> None:
    quotas = Quotas()
    retention_days = default(terraform, "retention_days")
    lifecycle = terraform["aws_s3_bucket_lifecycle_configuration.data"]
    [dynamic] = lifecycle["dynamic"]
    rule = dynamic["rule"]
    content = one(rule["content"])
    prefixes = one(terraform["local.data_prefixes"])

    assert retention_days == math.ceil(quotas.pro_retention_hours / 24)
    assert one(rule["for_each"]) == "${local.data_prefixes}"
    assert one(one(content["filter"])["prefix"]) == "${rule.value}"
    assert one(one(content["expiration"])["days"]) == "${var.retention_days}"
    # Every key a job writes falls under an expiring prefix.
    job = uuid.uuid4()
    keys = [
        f"{UPLOAD_PREFIX}{job}.mp4",
        input_key(job, ".mp4"),
        masks_key(job),
        output_key(job),
        attempts("tracker", job),
        attempts("renderer", job),
        cancel_key(job),
    ]
    for key in keys:
        assert any(key.startswith(p) for p in prefixes), key
    # No versioning of job files: a deleted upload must not linger as a noncurrent version.
    assert "aws_s3_bucket_versioning.data" not in terraform


def test_events_on_kafka_expire_within_the_free_retention(
    terraform: dict[str, Any], aws: list[dict[str, Any]]
) -> None:
    """Events hold users' clicks: the services' topic settings in the manifests, and the
    cluster's broker defaults for any other topic, delete them within the free tier's 24 h
    (open segment + retention + the broker's 5-minute retention check)."""
    free = Quotas().free_retention_hours * 3_600_000
    config = find(aws, "ConfigMap", "tapmask-config")["data"]
    settings = KafkaSettings(
        topic_retention_ms=int(config["TAPMASK_KAFKA__TOPIC_RETENTION_MS"]),
        topic_segment_ms=int(config["TAPMASK_KAFKA__TOPIC_SEGMENT_MS"]),
    )
    assert settings.longest_event_life_ms <= free
    props = dict(
        line.strip().split("=", 1)
        for line in one(terraform["aws_msk_configuration.main"]["server_properties"]).splitlines()
        if "=" in line
    )
    assert int(props["log.roll.ms"]) + int(props["log.retention.ms"]) + 300_000 <= free


def test_the_gpu_pool_is_spot_g5_and_empty_when_idle(terraform: dict[str, Any]) -> None:
    gpu = terraform["aws_eks_node_group.gpu"]
    system = terraform["aws_eks_node_group.system"]
    scaling = one(gpu["scaling_config"])

    assert one(gpu["capacity_type"]) == "SPOT"
    types = one(terraform["var.gpu_instance_types"]["default"])
    assert types and all(t.startswith("g5.") for t in types)
    assert one(scaling["min_size"]) == 0
    assert one(scaling["desired_size"]) == 0
    assert "NVIDIA" in one(gpu["ami_type"])
    # The autoscaler owns the size once running.
    assert "scaling_config[0].desired_size" in json.dumps(gpu["lifecycle"])
    # ... and can start the first node of an empty group: it is told what a node offers.
    template = one(terraform["local.gpu_node_template_tags"])
    assert "node-template/resources/nvidia.com/gpu" in template
    assert "node-template/label/" in template and "node-template/taint/" in template

    assert one(system["capacity_type"]) == "ON_DEMAND"
    assert one(system["labels"]) == {"tapmask.io/pool": "system"}
    assert default(terraform, "system_nodes")["min"] >= 1


def _allowed(patterns: list[str], key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def test_each_service_role_reaches_only_the_keys_its_code_uses(
    terraform: dict[str, Any], aws: list[dict[str, Any]]
) -> None:
    access = one(terraform["local.s3_access"])
    namespace = one(terraform["local.namespace"])
    job = uuid.uuid4()
    upload, masks, output = f"{UPLOAD_PREFIX}{job}.mp4", masks_key(job), output_key(job)
    pinned = input_key(job, ".mp4")
    cancelled = cancel_key(job)

    # What each service's code does with which key (deploy/terraform/iam.tf's table): the
    # gateway signs uploads, probes them, pins the probed bytes for the job (an S3 copy),
    # signs downloads and deletes it all at expiry; the workers read the pinned copy.
    uses = {
        "gateway": {
            "write": [upload, pinned, cancelled],
            "read": [upload, output],
            "delete": [upload, pinned, masks, output, cancelled],
        },
        "tracker": {
            "read": [pinned, attempts("tracker", job), cancelled],
            "write": [masks, attempts("tracker", job)],
        },
        "renderer": {
            "read": [pinned, masks, attempts("renderer", job), cancelled],
            "write": [output, attempts("renderer", job)],
        },
    }
    # ... and what it must not: another stage's output, another worker's counts, the
    # upload a presigned POST can still overwrite.
    never = {
        "gateway": {"write": [masks, output, attempts("tracker", job)]},
        "tracker": {
            "read": [upload],
            "write": [upload, pinned, output, attempts("renderer", job), cancelled],
            "delete": [upload, pinned, cancelled],
        },
        "renderer": {
            "read": [upload],
            "write": [upload, pinned, masks, attempts("tracker", job), cancelled],
            "delete": [upload, pinned, cancelled],
        },
    }
    assert set(access) == set(uses)
    for service, verbs in uses.items():
        for verb, keys in verbs.items():
            for key in keys:
                assert _allowed(access[service][verb], key), (service, verb, key)
        for verb, keys in never[service].items():
            for key in keys:
                assert not _allowed(access[service][verb], key), (service, verb, key)
    # Each verb is the one S3 action its name says, on the data bucket's keys above.
    verbs = {verb: one(v)["action"] for verb, v in one(terraform["local.s3_verbs"]).items()}
    assert verbs == {"read": "s3:GetObject", "write": "s3:PutObject", "delete": "s3:DeleteObject"}
    granted = terraform["data.aws_iam_policy_document.s3"]["dynamic"][0]["statement"]
    assert one(granted["for_each"]) == "${local.s3_verbs}"
    assert "each.value[statement.key]" in json.dumps(granted["content"])
    # Only the tracker reads the models bucket.
    assert {s for s, a in access.items() if a["models"]} == {"tracker"}
    # The roles are assumed by the Kubernetes service accounts of the same names.
    assume = terraform["data.aws_iam_policy_document.assume"]
    assert one(assume["for_each"]) == "${local.irsa_accounts}"
    assert "system:serviceaccount:${each.value}" in json.dumps(assume)
    accounts = json.dumps(terraform["local.irsa_accounts"])
    assert "${local.namespace}:${service}" in accounts, accounts
    for service in access:
        account = find(aws, "ServiceAccount", service)
        assert account["metadata"]["namespace"] == namespace
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
            f"role/tapmask-{service}"
        )
    # The notifier has no role at all.
    assert "annotations" not in find(aws, "ServiceAccount", "notifier")["metadata"]


def test_kafka_and_postgres_are_private_and_encrypted(terraform: dict[str, Any]) -> None:
    msk = terraform["aws_msk_cluster.main"]
    auth = one(one(msk["client_authentication"])["sasl"])
    transit = one(one(one(msk["encryption_info"])["encryption_in_transit"]))
    assert one(auth["scram"]) is True  # as the services log in: SASL_SSL, SCRAM-SHA-512
    assert one(transit["client_broker"]) == "TLS"
    assert one(msk["number_of_broker_nodes"]) == 3
    assert "min.insync.replicas=2" in one(
        terraform["aws_msk_configuration.main"]["server_properties"]
    )

    db = terraform["aws_db_instance.main"]
    assert one(db["engine"]) == "postgres"
    assert one(db["storage_encrypted"]) is True
    assert one(db["publicly_accessible"]) is False
    assert one(db["manage_master_user_password"]) is True  # no password in the state


def test_checkov_finds_nothing_unexplained_in_the_terraform() -> None:
    assert_checkov_clean(TERRAFORM, "terraform", min_resources=60)


def test_the_manifests_are_validated_against_the_clusters_kubernetes_version(
    terraform: dict[str, Any],
) -> None:
    checker = (TERRAFORM.parent / "checks" / "validate_manifests.py").read_text()
    [validated] = re.findall(r'^KUBERNETES_VERSION = "(\d+\.\d+)\.\d+"', checker, re.M)
    assert validated == default(terraform, "cluster_version")
