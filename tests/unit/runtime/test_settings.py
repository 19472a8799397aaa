"""Runtime settings groups as a service reads them from its environment."""

from __future__ import annotations

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.settings import DatabaseSettings, KafkaSettings, S3Settings


class ServiceSettings(BaseSettings):
    """How each service nests the shared groups."""

    model_config = SettingsConfigDict(env_prefix="TAPMASK_", env_nested_delimiter="__")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)


def test_nested_env_vars_reach_each_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPMASK_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("TAPMASK_S3__BUCKET", "videos")
    monkeypatch.setenv("TAPMASK_S3__SECRET_KEY", "s3cr3t")
    monkeypatch.setenv("TAPMASK_DATABASE__URL", "postgresql://u:p@db:5432/tm")

    settings = ServiceSettings()

    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.s3.bucket == "videos"
    assert settings.s3.secret_key is not None
    assert settings.s3.secret_key.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)  # secrets never end up in logs
    assert settings.database.url == "postgresql://u:p@db:5432/tm"


def test_empty_endpoint_means_aws_with_virtual_hosted_buckets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAPMASK_S3__ENDPOINT_URL", "")
    s3 = ServiceSettings().s3
    assert s3.endpoint_url is None
    assert s3.addressing_style == "virtual"


def test_custom_endpoint_uses_path_style_unless_told_otherwise() -> None:
    assert S3Settings(endpoint_url="http://seaweed:8333").addressing_style == "path"
    assert (
        S3Settings(endpoint_url="https://minio.example", path_style=False).addressing_style
        == "virtual"
    )


def test_bad_security_protocol_is_rejected_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPMASK_KAFKA__SECURITY_PROTOCOL", "KERBEROS")
    with pytest.raises(ValueError, match="security_protocol"):
        ServiceSettings()


def test_one_topic_prefix_setting_reaches_all_four_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tapmask_gateway.settings import Settings as GatewaySettings
    from tapmask_notifier.settings import Settings as NotifierSettings
    from tapmask_renderer.settings import Settings as RendererSettings
    from tapmask_schemas import topics
    from tapmask_tracker.settings import Settings as TrackerSettings

    services = (GatewaySettings, NotifierSettings, RendererSettings, TrackerSettings)
    # By default every service uses the names of tapmask_schemas.topics as they are.
    for cls in services:
        assert cls().kafka.topic(topics.JOB_CREATED) == "tapmask.job-created"
    monkeypatch.setenv("TAPMASK_KAFKA__TOPIC_PREFIX", "staging.")
    for cls in services:
        assert cls().kafka.topic(topics.DEAD_LETTER) == "staging.tapmask.dead-letter", cls
