"""A use case's "no": what kind of refusal it is and the words for the person who asked.

The use cases know nothing of HTTP; the controllers map each ``Refusal`` to a status code
(``tapmask_gateway.controllers.deps.http_refusals``) and count ``reason`` in
``tapmask_gateway_rejections_total``.
"""

from __future__ import annotations

from enum import StrEnum


class Refusal(StrEnum):
    NOT_FOUND = "not_found"
    """No such thing for this client (a wrong token reads the same)."""
    CONFLICT = "conflict"
    """Not in this state: already used, not uploaded yet, already finished."""
    GONE = "gone"
    """Expired, and its files deleted."""
    INVALID = "invalid"
    """The request cannot be done as asked (a click outside the frame, not a video)."""
    MALFORMED = "malformed"
    """The request itself is wrong (an empty or negative file size)."""
    UNSUPPORTED = "unsupported"
    """A kind of file that is not accepted."""
    TOO_LARGE = "too_large"
    """A file over the size limit."""
    TOO_MANY = "too_many"
    """A quota or rate is used up; ``retry_after_s`` says when to try again."""
    BUSY = "busy"
    """The server cannot take it right now; try again soon."""


class Refused(Exception):
    """The use case refused; ``detail`` says why, in plain words, to the person who asked."""

    def __init__(
        self,
        kind: Refusal,
        detail: str,
        *,
        reason: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        #: The rejection metric's label; None: not counted as a rejection.
        self.reason = reason
        self.retry_after_s = retry_after_s
