"""Helpers of the worker unit tests (imported by name, unlike conftest)."""

from __future__ import annotations

from typing import Any

from faststream.kafka import TestKafkaBroker


async def deliver(svc: Any, topic: str, *messages: Any) -> None:
    """Publish ``messages`` to a worker service on the in-memory broker; wait till idle."""
    async with TestKafkaBroker(svc.broker) as br:
        for m in messages:
            await br.publish(m, topic)
        await svc.worker.wait_idle()
