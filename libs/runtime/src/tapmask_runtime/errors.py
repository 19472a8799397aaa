"""How a job stage ends other than by finishing: the exceptions a stage handler raises or gets.

``StageWorker`` (tapmask_runtime.worker) turns each into its outcome: a permanent error fails
the job at once with its message shown to the user, an abandoned job is left uncommitted for
another worker, a cancelled one is settled without a result; anything else is retried.
"""

from __future__ import annotations


class PermanentJobError(Exception):
    """A failure no retry can fix (bad input); the message is shown to the user."""


class StageTimedOut(PermanentJobError):
    """The stage ran past its time budget (``WorkerSettings.stage_budget_s``)."""


class JobAbandoned(Exception):
    """Raised into a job's progress callback when the worker is shutting down."""


class JobCancelled(Exception):
    """Raised into a job's progress callback once its owner cancelled it
    (``tapmask_runtime.cancels``): the stage stops, publishes nothing more and is done."""


class ObjectMissingError(LookupError):
    """The object to download does not exist (expired, deleted or never uploaded)."""
