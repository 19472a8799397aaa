"""Events replayed onto a job's projected state (``tapmask_gateway.domain.jobs``), for the
job state and review tests: each event applied in turn, one that changes nothing skipped."""

from __future__ import annotations

from tapmask_gateway.domain.jobs import JobState, apply_event
from tapmask_schemas.events import Event


def replay(*events: Event, state: JobState | None = None) -> JobState:
    """``state`` (a new job's when None) after ``events`` in the order given."""
    state = state or JobState()
    for event in events:
        new = apply_event(state, event)
        if new is not None:
            state = new
    return state
