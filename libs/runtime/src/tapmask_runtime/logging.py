"""JSON-lines logs on stdout, each record carrying the job it belongs to.

``configure_logging`` once in a service's ``main()``; wrap each handled job in
``job_context(job_id)`` and every record logged inside (by any library) has ``job_id``::

    with job_context(event.job_id):
        log.info("tracking started", extra={"frames": n})
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO
from uuid import UUID

from tapmask_runtime.settings import LogSettings
from tapmask_runtime.tracing import current_trace_ids

_job_id: ContextVar[str | None] = ContextVar("tapmask_job_id", default=None)

# Attributes every LogRecord has; anything else came from `extra=` and goes into the JSON.
_STANDARD_ATTRS = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
)


@contextmanager
def job_context(job_id: UUID | str) -> Iterator[None]:
    """Tag every log record emitted inside (this task only) with ``job_id``."""
    token = _job_id.set(str(job_id))
    try:
        yield
    finally:
        _job_id.reset(token)


def current_job_id() -> str | None:
    return _job_id.get()


class JobIdFilter(logging.Filter):
    """Adds ``record.job_id`` from the job context unless the call passed one in ``extra``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = _job_id.get()
        # The span current where the record was made (None while tracing is off): a log
        # line leads to its trace, and a job's trace id is its job id (tapmask_runtime.tracing).
        ids = current_trace_ids()
        record.trace_id, record.span_id = ids if ids is not None else (None, None)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # default=str: UUIDs, datetimes and paths in `extra` print as text instead of failing.
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    service: str, settings: LogSettings | None = None, *, stream: TextIO | None = None
) -> None:
    """Send all logs (root logger) to ``stream`` (stdout) as JSON lines or plain text."""
    settings = settings or LogSettings()
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(JobIdFilter())
    if settings.json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)s {service} [%(job_id)s] %(name)s: %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # aiokafka logs every rebalance and reconnect at INFO: keep its warnings only.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
