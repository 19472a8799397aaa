"""The AsyncAPI document of TapMask's Kafka events, for whoever consumes them.

    python -m tapmask_runtime.asyncapi          # write schemas/asyncapi.json
    python -m tapmask_runtime.asyncapi --check  # exit 1 when it drifted from the event models

Every publisher of the services is made by ``event_publisher``, which hands FastStream the
topic's pydantic event model as the message schema: the services' own AsyncAPI output and
this document show the real payloads (FastStream leaves a payload empty when a publisher is
given no schema). The document is FastStream's AsyncAPI 3.0 generator run over those same
publishers; the payload schemas are the models' JSON Schemas, as in schemas/json/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.specification import AsyncAPI

from tapmask_schemas.events import EVENT_MODELS, SCHEMA_VERSION, Event
from tapmask_schemas.topics import JOB_CREATED, JOB_FAILED, JOB_PROGRESS, MASKS_READY, VIDEO_READY

DEFAULT_PATH = Path(__file__).resolve().parents[4] / "schemas" / "asyncapi.json"

# Who sends each event (the one place this is written down for readers of the document).
PUBLISHED_BY = {
    JOB_CREATED: "the gateway, once per accepted job (through its transactional outbox)",
    MASKS_READY: "the tracker, when a job's masks are stored",
    VIDEO_READY: "the renderer, when the result video is stored",
    JOB_PROGRESS: "the tracker and the renderer, throttled, while they work on a job",
    JOB_FAILED: "the tracker or the renderer, when a job fails for good",
}


def event_model(topic: str) -> type[Event]:
    """The event model a topic carries (``tapmask.<event_type>``)."""
    return EVENT_MODELS[topic.removeprefix("tapmask.")]


def event_publisher(registrar: KafkaBroker | KafkaRouter, topic: str, **doc: Any) -> Any:
    """A FastStream publisher to ``topic`` that documents the topic's event as its payload."""
    return registrar.publisher(topic, schema=event_model(topic), **doc)


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (JSON-ready)."""
    broker = KafkaBroker(
        "kafka:9092",
        description=(
            "TapMask's event bus. Every message is JSON, keyed by its job id (one job's "
            "events stay in order on one partition); delivery is at least once, so drop "
            "repeats by event_id. Topic names take TAPMASK_KAFKA__TOPIC_PREFIX in front. "
            "Trace context travels in the W3C traceparent header."
        ),
    )
    for topic, who in PUBLISHED_BY.items():
        model = event_model(topic)
        summary = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else topic
        event_publisher(broker, topic, title=topic, description=f"{summary} Sent by {who}.")
    spec = AsyncAPI(
        broker,
        title="TapMask events",
        version=str(SCHEMA_VERSION),
        description=(
            "Events of TapMask's video jobs. `pip install ./schemas` gives the same "
            "contracts as pydantic models (tapmask_schemas)."
        ),
        schema_version="3.0.0",
    )
    jsonable: dict[str, Any] = spec.to_specification().to_jsonable()
    return jsonable


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the file drifted")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.path.is_file() or args.path.read_text() != text:
            print(
                f"{args.path} is out of date: run `python -m tapmask_runtime.asyncapi` "
                "and commit.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.path} matches the event models.")
        return 0
    args.path.write_text(text)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
