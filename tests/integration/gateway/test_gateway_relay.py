"""The outbox relay on the real PostgreSQL (issue 9): when one publish fails mid-batch,
the rows already sent stay marked sent (they were all sent again on the next round),
and the rest go out, in order, once Kafka answers again."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
from gateway_harness import new_schema

from tapmask_gateway.adapters import db
from tapmask_gateway.background.relay import relay_once

pytestmark = pytest.mark.integration


class Broker:
    """Records what is published; fails the ``fail_at``-th publish (1-based) once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[str] = []
        self.fail_at = fail_at

    async def publish(self, body: bytes, **_: Any) -> None:
        if self.fail_at is not None and len(self.sent) + 1 == self.fail_at:
            self.fail_at = None
            raise ConnectionError("Kafka went away")
        self.sent.append(json.loads(body)["event_id"])


async def test_a_failed_publish_mid_batch_resends_nothing_already_sent(
    postgres_dsn: str,
) -> None:
    pool = await db.create_pool(await new_schema(postgres_dsn), 1, 2)
    try:
        await db.migrate(pool)
        ids = [str(uuid4()) for _ in range(5)]
        for event_id in ids:
            await pool.execute(
                "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)",
                "tapmask.job-created",
                b"k",
                {"event_id": event_id, "job_id": str(uuid4())},
            )
        flaky = Broker(fail_at=3)
        with pytest.raises(ConnectionError):
            await relay_once(pool, flaky)  # type: ignore[arg-type]
        assert flaky.sent == ids[:2]
        marked = await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")
        assert marked == 2

        again = Broker()
        assert await relay_once(pool, again) == 3  # type: ignore[arg-type]
        assert again.sent == ids[2:]  # the first two are not sent twice; order kept
    finally:
        await pool.close()
