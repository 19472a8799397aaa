"""Cancelling a job: the gateway leaves a marker in object storage, the workers look for it.

Why a marker and not an event: a worker is busy inside one job (one at a time) and reads
its topic only between jobs, so an event would reach it after the job it should stop.
Object storage is the store every worker already talks to (its attempt ledger lives
there); a worker reads the marker once before it starts a job's stage and then with its
progress ticks (``WorkerSettings.progress_interval_s``, 1 s by default), so a cancelled
job stops within about a second and a queued one never starts. The marker is one tiny
object per job, deleted with the job's other files when it expires.
"""

from __future__ import annotations

from tapmask_schemas.keys import CANCEL_PREFIX, cancel_key

__all__ = ["CANCEL_PREFIX", "cancel_key"]
