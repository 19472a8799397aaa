"""How services get their Kafka broker and subscribe (the live behaviour is in
tests/integration/infra/test_kafka_*)."""

from __future__ import annotations

import pytest
from faststream import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512
from pydantic import SecretStr

from tapmask_gateway.settings import Quotas
from tapmask_runtime.kafka import make_broker, make_security
from tapmask_runtime.settings import KafkaSettings


def test_plaintext_needs_no_security() -> None:
    assert make_security(KafkaSettings()) is None


def test_ssl_without_sasl() -> None:
    security = make_security(KafkaSettings(security_protocol="SSL"))
    assert type(security) is BaseSecurity
    assert security.use_ssl


@pytest.mark.parametrize(
    ("mechanism", "kind"), [("PLAIN", SASLPlaintext), ("SCRAM-SHA-512", SASLScram512)]
)
def test_sasl_mechanism_picks_the_matching_security(
    mechanism: str, kind: type[BaseSecurity]
) -> None:
    settings = KafkaSettings.model_validate(
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": mechanism,
            "sasl_username": "svc",
            "sasl_password": SecretStr("pw"),
        }
    )
    security = make_security(settings)
    assert type(security) is kind
    assert security.use_ssl


def test_sasl_without_credentials_names_the_missing_settings() -> None:
    with pytest.raises(ValueError, match="TAPMASK_KAFKA__SASL_USERNAME"):
        make_security(KafkaSettings(security_protocol="SASL_SSL"))


def test_a_subscriber_naming_no_policy_commits_after_its_handler_not_on_receipt() -> None:
    broker = make_broker(KafkaSettings())
    subscriber = broker.subscriber("topic-a", group_id="workers")
    # Not ACK_FIRST, FastStream's default, which turns on auto-commit: offsets of jobs still
    # being worked on would be committed and lost on a crash. (The workers' own subscription,
    # which commits by hand, is tested live in tests/integration/infra/test_kafka_delivery.py.)
    assert subscriber.ack_policy is AckPolicy.ACK


def test_default_topic_retention_drops_events_within_the_free_tier_retention() -> None:
    """Events hold users' clicks: with the default settings Kafka deletes them (open segment,
    retention, the broker's 5-minute check) before the free tier's promised 24 h is over."""
    free_ms = Quotas().free_retention_hours * 3_600_000
    assert KafkaSettings().longest_event_life_ms <= free_ms
