"""Errors for media a user handed us: each message names the problem in plain words."""

from __future__ import annotations


class MediaError(ValueError):
    """A file that cannot be used as a video (the message says why)."""


class EmptyFileError(MediaError):
    """The file has zero bytes."""


class NotAVideoError(MediaError):
    """The bytes are not a recognised video container (e.g. a text file named .mp4)."""


class UnsupportedFormatError(MediaError):
    """A container format outside the allowed list (mp4/mov, webm/matroska, avi)."""


class TruncatedFileError(MediaError):
    """The file ends before the data its header announces."""


class NoVideoStreamError(MediaError):
    """The container holds no video stream (e.g. audio only)."""


class MediaLimitError(MediaError):
    """The file exceeds a configured limit (size, pixels, streams, duration)."""


class FrameSizeChangedError(MediaError):
    """A frame's picture size differs from the stream's (checked) one: a size change
    mid-stream, which every stage would have to handle, so none accepts it."""


class ProbeTimeoutError(MediaError):
    """Probing took longer than allowed (or ran out of its memory budget)."""
