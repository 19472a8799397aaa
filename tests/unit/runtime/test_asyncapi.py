"""The AsyncAPI document third parties read: current, with every event's real payload, and
the services' own publishers documenting the same payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faststream.specification import AsyncAPI

from tapmask_runtime.asyncapi import DEFAULT_PATH, PUBLISHED_BY, event_model, main
from tapmask_schemas.topics import DEAD_LETTER


def test_the_committed_document_is_current() -> None:
    assert main(["--check"]) == 0


def test_every_public_topic_carries_its_event_models_schema() -> None:
    doc = json.loads(DEFAULT_PATH.read_text())
    schemas = doc["components"]["schemas"]

    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == set(PUBLISHED_BY)
    for topic, channel in doc["channels"].items():
        [ref] = [m["$ref"] for m in channel["messages"].values()]
        message = doc["components"]["messages"][ref.rsplit("/", 1)[-1]]
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        model_schema = event_model(topic).model_json_schema()
        # The model's fields, required ones and types, not an empty placeholder.
        assert payload["properties"].keys() == model_schema["properties"].keys(), topic
        assert set(payload["required"]) == set(model_schema["required"]), topic
        assert "job_id" in payload["properties"] and "event_id" in payload["properties"]


def _publisher_payloads(broker: Any) -> dict[str, dict[str, Any]]:
    doc = AsyncAPI(broker).to_specification().to_jsonable()
    return {
        name: message["payload"]
        for name, message in doc["components"]["messages"].items()
        if "Subscribe" not in name
    }


@pytest.mark.parametrize("service", ["tracker", "renderer"])
def test_the_workers_publishers_document_their_payloads(service: str) -> None:
    if service == "tracker":
        from tapmask_tracker.app import build_service
        from tapmask_tracker.settings import Settings
    else:
        from tapmask_renderer.app import build_service  # type: ignore[assignment]
        from tapmask_renderer.settings import Settings  # type: ignore[assignment]

    payloads = _publisher_payloads(build_service(Settings()).broker)

    assert len(payloads) >= 4
    for name, payload in payloads.items():
        if name.startswith(DEAD_LETTER):
            continue  # the original bytes of a message that was not a valid event
        assert payload.get("$ref", "").rsplit("/", 1)[-1] in {
            m.__name__ for m in map(event_model, PUBLISHED_BY)
        }, (name, payload)
