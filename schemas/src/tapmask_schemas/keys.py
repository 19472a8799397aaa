"""Where each file of a job lives in object storage: the one definition every service uses.

The gateway writes uploads, inputs and cancel markers and deletes them all when a job
expires; the tracker writes masks, the renderer outputs, each worker its start counts. A
key built by hand in two services is a file one of them cannot find or never deletes, so
every key is built here (events carry the masks and output keys too, but the gateway also
needs them for a job whose event it never got, to delete its files on expiry).
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

UPLOAD_PREFIX: Final = "uploads/"
INPUT_PREFIX: Final = "inputs/"
MASKS_PREFIX: Final = "masks/"
OUTPUT_PREFIX: Final = "outputs/"
CANCEL_PREFIX: Final = "cancelled/"
ATTEMPTS_PREFIX: Final = "attempts/"

#: The prefixes of a user's video and what was made from it (the store's lifecycle rules).
MEDIA_PREFIXES: Final = (UPLOAD_PREFIX, INPUT_PREFIX, MASKS_PREFIX, OUTPUT_PREFIX)


def upload_key(upload_id: UUID, ext: str) -> str:
    """Server-chosen key: clients never pick where their bytes land."""
    return f"{UPLOAD_PREFIX}{upload_id}{ext}"


def input_key(job_id: UUID, ext: str) -> str:
    """The job's own copy of its upload: the bytes the gateway checked, out of reach of the
    upload's presigned POST (valid 15 minutes, so the upload key can be written again)."""
    return f"{INPUT_PREFIX}{job_id}{ext}"


def masks_key(job_id: UUID | str) -> str:
    """The tracker's masks of a job (tapmask_media.masks format)."""
    return f"{MASKS_PREFIX}{job_id}.masks"


def output_key(job_id: UUID | str) -> str:
    """The renderer's finished video of a job."""
    return f"{OUTPUT_PREFIX}{job_id}.mp4"


def previews_key(job_id: UUID | str) -> str:
    """The tracker's outline previews of a job while it tracks (``tracking.TrackPreviews``);
    under the masks' prefix, so the bucket's lifecycle deletes them with the masks."""
    return f"{MASKS_PREFIX}{job_id}.previews.json"


def hold_key(job_id: UUID | str) -> str:
    """The owner's pause / accept / correction of a tracking job (``tracking.TrackHold``)."""
    return f"{MASKS_PREFIX}{job_id}.hold.json"


def cancel_key(job_id: UUID | str) -> str:
    """The marker that says job ``job_id`` was cancelled by its owner
    (tapmask_runtime.cancels says why a marker)."""
    return f"{CANCEL_PREFIX}{job_id}"


def attempts_key(service: str, job_id: UUID | str) -> str:
    """How often ``service`` started its stage of job ``job_id`` (tapmask_runtime.attempts)."""
    return f"{ATTEMPTS_PREFIX}{service}/{job_id}"
