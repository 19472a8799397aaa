"""What an upload may be, checked before anything touches the store."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final, Literal

# Object keys are a contract between the services, defined once in tapmask_schemas.keys.
from tapmask_schemas.keys import UPLOAD_PREFIX, input_key, masks_key, output_key, upload_key

__all__ = [
    "ALLOWED_TYPES",
    "UPLOAD_PREFIX",
    "UploadRejected",
    "check_upload",
    "click_problem",
    "input_key",
    "masks_key",
    "output_key",
    "upload_key",
]

# Extension -> content types a browser sends for it. Containers PyAV opens safely
# with a whitelist: MP4/MOV, WebM/Matroska, AVI.
ALLOWED_TYPES: Final[dict[str, frozenset[str]]] = {
    ".mp4": frozenset({"video/mp4"}),
    ".m4v": frozenset({"video/mp4", "video/x-m4v"}),
    ".mov": frozenset({"video/quicktime"}),
    ".webm": frozenset({"video/webm"}),
    ".mkv": frozenset({"video/x-matroska", "video/matroska"}),
    ".avi": frozenset({"video/x-msvideo", "video/avi", "video/msvideo"}),
}


class UploadRejected(ValueError):
    """The requested upload is not allowed; the message says why, ``kind`` what is wrong with
    it (the HTTP layer answers by kind, never by reading the message)."""

    def __init__(self, message: str, kind: Literal["type", "too_large", "invalid"]) -> None:
        super().__init__(message)
        self.kind = kind


def check_upload(filename: str, content_type: str, size: int, max_bytes: int) -> tuple[str, str]:
    """(extension, content type) of an allowed upload, else UploadRejected naming the problem."""
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if ext not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        raise UploadRejected(
            f"file type {ext or '(none)'!r} is not supported; use one of {allowed}", "type"
        )
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype not in ALLOWED_TYPES[ext]:
        expected = ", ".join(sorted(ALLOWED_TYPES[ext]))
        raise UploadRejected(
            f"content type {ctype!r} does not match {ext}; expected {expected}", "type"
        )
    if size == 0:
        raise UploadRejected(
            "the file is empty (0 bytes): size must be a positive number", "invalid"
        )
    if size < 0:
        raise UploadRejected("size must be a positive number of bytes", "invalid")
    if size > max_bytes:
        raise UploadRejected(f"file is {size} bytes; the limit is {max_bytes} bytes", "too_large")
    return ext, ctype


def click_problem(
    x: float, y: float, frame: int, width: int, height: int, frame_count: int
) -> str | None:
    """Why a click cannot be used on this video, or None when it is inside it."""
    if not (0 <= x < width and 0 <= y < height):
        return f"click ({x:g}, {y:g}) is outside the {width}x{height} frame"
    if frame_count > 0 and frame >= frame_count:
        return f"frame {frame} is past the end of the video ({frame_count} frames)"
    return None
