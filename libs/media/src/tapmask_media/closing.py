"""The ``with`` protocol of the media writers, written once: a writer used as a context
manager is closed on leaving the block, also when it is left by an exception (so a
partly written file is still finished: its index or frame count written)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """Base of a writer with a ``close()``: ``with Writer(...) as w:`` closes it at the end."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
