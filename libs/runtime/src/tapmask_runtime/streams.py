"""How many progress streams (SSE) are open, per client and per job: one client must not
hold the connections every other user's stream needs.

The gateway relays ``GET /api/jobs/{id}/events`` to the notifier, one upstream connection
per open stream. With one shared pool of 100 and no caps, 105 streams opened from one
address left every other user's stream waiting 10 s for a connection and answering 503
(issue 9). So each client (IP or API key) and each job holds at most a few streams, and
the upstream pool is sized to what those caps allow. The notifier, which browsers reach
directly behind the ingress, counts its streams the same way. Counts are per replica, in
memory: a stream lives on the replica that opened it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StreamSlots:
    """Open streams by client subject and by job; ``open`` refuses over the caps."""

    per_client: int
    per_job: int
    total: int
    by_client: Counter[str] = field(default_factory=Counter)
    by_job: Counter[str] = field(default_factory=Counter)

    @property
    def open_streams(self) -> int:
        return sum(self.by_client.values())

    def open(self, client: str, job: str) -> str | None:
        """Take a slot for ``client`` on ``job``; or the reason there is none (nothing taken)."""
        if self.by_client[client] >= self.per_client:
            return (
                f"too many open progress streams from this client (at most {self.per_client}):"
                " close one first"
            )
        if self.by_job[job] >= self.per_job:
            return (
                f"too many open progress streams for this job (at most {self.per_job}):"
                " close one first"
            )
        if self.open_streams >= self.total:
            return "the server has as many progress streams open as it can hold: retry shortly"
        self.by_client[client] += 1
        self.by_job[job] += 1
        return None

    def close(self, client: str, job: str) -> None:
        for counter, key in ((self.by_client, client), (self.by_job, job)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
