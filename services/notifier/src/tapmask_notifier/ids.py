"""SSE event ids derived from the event itself, so they mean the same on every notifier.

An id is ``occurred_at`` in microseconds since the epoch and the first 8 hex digits of
the ``event_id``, packed into one decimal integer (``micros << 32 | first 32 bits``):
every replica, and a restarted notifier replaying Kafka history, gives an event the
same id, and ids order like (occurred_at, event_id). One job's events are causally
ordered across stages (a stage publishes its last progress before the next stage even
gets its input), so that order is the job's order. A plain integer keeps ids easy for
clients to compare and parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_LOW_BITS = 32
# An id whose time is before 2001-09-09 is no event's: e.g. an old per-process counter.
_MIN_MICROS = 10**15
_DIGITS = re.compile(r"[0-9]{1,30}")


@dataclass(frozen=True, order=True)
class EventKey:
    """Where an event sorts among its job's events: (occurred_at, event_id)."""

    micros: int
    event_hex: str

    @classmethod
    def of(cls, occurred_at: datetime, event_id: UUID) -> EventKey:
        # Integer arithmetic on timedeltas: no float rounding of the microseconds.
        return cls((occurred_at - _EPOCH) // _MICRO, event_id.hex)

    @property
    def sse_id(self) -> str:
        return str(self.micros << _LOW_BITS | int(self.event_hex[:8], 16))

    @classmethod
    def after_sse_id(cls, raw: str | None) -> EventKey | None:
        """A key just above every event whose id is ``raw`` (a Last-Event-ID), so that
        ``key > cursor`` means "not seen yet"; None when ``raw`` is no event id of ours."""
        if raw is None or not _DIGITS.fullmatch(raw := raw.strip()):
            return None
        value = int(raw)
        micros, low = value >> _LOW_BITS, value & (2**_LOW_BITS - 1)
        if micros < _MIN_MICROS:
            return None
        # Only 8 hex digits travel: events sharing them (and the microsecond) count as
        # seen, hence the padding with the highest digits.
        return cls(micros, f"{low:08x}" + "f" * 24)
