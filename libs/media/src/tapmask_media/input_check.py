"""How a worker checks the input it downloaded before working on it: probed again in a child
process without secrets, with the gateway's limits, and compared with what the gateway
accepted (``probe.probe_as_checked``). Both workers run the same check, defined here once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

#: (downloaded file, (width, height, frame_count) the gateway accepted) -> raises if not it.
InputCheck = Callable[[Path, tuple[int, int, int]], object]


class CheckLimits(Protocol):
    """The limits the check needs (``tapmask_runtime.settings.VideoLimits`` has them)."""

    @property
    def probe_timeout_s(self) -> float: ...

    @property
    def probe_memory_bytes(self) -> int: ...

    def probe_fields(self) -> dict[str, Any]: ...


def input_check(limits: CheckLimits) -> InputCheck:
    """The downloaded input probed again with the gateway's ``limits``, in a child process
    without secrets, and compared with what the gateway accepted."""
    # Imported here: the probe (PyAV) loads on the first check, not when a worker imports this.
    from tapmask_media.probe import ProbeLimits, probe_as_checked

    return functools.partial(
        probe_as_checked,
        limits=ProbeLimits(**limits.probe_fields()),
        timeout=limits.probe_timeout_s,
        memory_limit=limits.probe_memory_bytes,
    )
