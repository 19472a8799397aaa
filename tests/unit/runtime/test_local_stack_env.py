"""The local stack's printed settings are the ones the services read (names and values)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tapmask_runtime.settings import DatabaseSettings, KafkaSettings, S3Settings

# The launchers live in the repo (deploy/local), not in an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from deploy.local import stack
from deploy.local._common import LocalStackSettings


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAPMASK_", env_nested_delimiter="__")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)


def test_a_service_configured_from_the_stack_env_reaches_the_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local = LocalStackSettings(dir=tmp_path, port_offset=100)
    for key, value in stack.env(settings=local).items():
        monkeypatch.setenv(key, value)

    settings = ServiceSettings()

    assert settings.kafka.bootstrap_servers == "127.0.0.1:9192"
    assert settings.database.url == "postgresql://tapmask:tapmask@127.0.0.1:5533/tapmask"
    assert settings.s3.endpoint_url == "http://127.0.0.1:8433"
    assert settings.s3.bucket == "tapmask"
    assert settings.s3.access_key == "tapmask"
    assert settings.s3.secret_key is not None
    assert settings.s3.secret_key.get_secret_value() == "tapmask-secret"


def test_cli_env_prints_shell_exports(capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.main(["env", "--only", "postgres"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("export TAPMASK_DATABASE__URL=")
    assert "127.0.0.1" in out


def test_unknown_service_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.main(["status", "--only", "kafka,redis"]) == 1
    assert "redis" in capsys.readouterr().err
