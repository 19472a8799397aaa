"""TapMask video I/O: safe probing, streaming decode and encode with PyAV, mask streams."""

from tapmask_media.errors import (
    EmptyFileError,
    FrameSizeChangedError,
    MediaError,
    MediaLimitError,
    NotAVideoError,
    NoVideoStreamError,
    ProbeTimeoutError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from tapmask_media.probe import ProbeLimits, VideoInfo, probe, probe_in_subprocess

__all__ = [
    "EmptyFileError",
    "FrameSizeChangedError",
    "MediaError",
    "MediaLimitError",
    "NoVideoStreamError",
    "NotAVideoError",
    "ProbeLimits",
    "ProbeTimeoutError",
    "TruncatedFileError",
    "UnsupportedFormatError",
    "VideoInfo",
    "probe",
    "probe_in_subprocess",
]
