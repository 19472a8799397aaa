"""Mask streams between tracker and renderer, and PNG mask folders.

Stream format (``.tmask``), chosen because masks are binary and mostly empty: one bit per
pixel (``numpy.packbits``) compressed with zlib is lossless, ~100x smaller than raw bytes
and takes about a millisecond per 720p frame; it needs no codec, can be written and read
one frame at a time (so a tracker can upload while it tracks), and is parsed in a few
lines from any language. Layout, all integers little-endian::

    header  : magic b"TMASK1\\0\\0" | uint32 width | uint32 height | uint32 frame_count
    frame i : uint32 n | n bytes = zlib(packbits(mask_i.flatten()))    (repeated)

``frame_count`` is ``0xFFFFFFFF`` while unknown (a stream written to a pipe); a writer on
a seekable file patches it on close. Readers never trust it blindly: each frame's
decompressed size must be exactly ``ceil(w*h/8)`` bytes (a zip bomb stops there).

PNG folders: one 8-bit grey PNG per frame, 255 = object, 0 = background, files sorted by
name (``00000.png``, ``00001.png``...); when read, any value above 127 is the object.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_media.closing import ClosedOnExit
from tapmask_media.errors import MediaError

Mask = npt.NDArray[np.bool_]

MAGIC = b"TMASK1\0\0"
UNKNOWN_COUNT = 0xFFFFFFFF
_HEADER = struct.Struct("<8sIII")
_LEN = struct.Struct("<I")
_MAX_SIDE = 16384


class MaskFormatError(MediaError):
    """A mask stream or mask folder that does not match the documented format."""


class MaskWriter(ClosedOnExit):
    """Append masks to a ``.tmask`` stream one frame at a time."""

    def __init__(self, fh: BinaryIO, width: int, height: int, level: int = 1) -> None:
        self._fh = fh
        self.width, self.height = width, height
        self._level = level
        self.count = 0
        self._start = fh.tell() if fh.seekable() else None
        fh.write(_HEADER.pack(MAGIC, width, height, UNKNOWN_COUNT))

    def write(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.uint8]) -> None:
        if mask.shape != (self.height, self.width):
            raise MaskFormatError(
                f"mask {self.count} is {mask.shape[1]}x{mask.shape[0]}, "
                f"the stream is {self.width}x{self.height}"
            )
        payload = zlib.compress(np.packbits(mask.astype(bool, copy=False)).tobytes(), self._level)
        self._fh.write(_LEN.pack(len(payload)))
        self._fh.write(payload)
        self.count += 1

    def close(self) -> None:
        if self._start is not None:
            end = self._fh.tell()
            self._fh.seek(self._start + 16)
            self._fh.write(struct.pack("<I", self.count))
            self._fh.seek(end)
        self._fh.flush()


def read_header(fh: BinaryIO) -> tuple[int, int, int | None]:
    """(width, height, frame_count or None if unknown) of a ``.tmask`` stream."""
    raw = fh.read(_HEADER.size)
    if len(raw) != _HEADER.size:
        raise MaskFormatError("mask stream too short for its header")
    magic, width, height, count = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise MaskFormatError("not a TapMask mask stream (bad magic bytes)")
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise MaskFormatError(f"mask stream has an invalid size {width}x{height}")
    return width, height, None if count == UNKNOWN_COUNT else count


def iter_masks(fh: BinaryIO) -> Iterator[Mask]:
    """Yield the masks of a ``.tmask`` stream one at a time."""
    width, height, count = read_header(fh)
    expected = (width * height + 7) // 8
    index = 0
    while True:
        raw = fh.read(_LEN.size)
        if not raw:
            break
        if len(raw) != _LEN.size:
            raise MaskFormatError(f"mask stream truncated at frame {index}")
        (n,) = _LEN.unpack(raw)
        payload = fh.read(n)
        if len(payload) != n:
            raise MaskFormatError(f"mask stream truncated at frame {index}")
        d = zlib.decompressobj()
        try:
            bits = d.decompress(payload, expected)
        except zlib.error as exc:
            raise MaskFormatError(f"mask {index} is corrupt ({exc})") from exc
        if len(bits) != expected or d.unconsumed_tail or not d.eof:
            raise MaskFormatError(f"mask {index} does not hold exactly {width}x{height} bits")
        flat = np.unpackbits(np.frombuffer(bits, np.uint8), count=width * height)
        yield flat.reshape(height, width).astype(bool)
        index += 1
    if count is not None and index != count:
        raise MaskFormatError(f"mask stream holds {index} masks, its header says {count}")


def write_mask_stream(path: Path, masks: Iterable[Mask], width: int, height: int) -> int:
    """Write ``masks`` to a ``.tmask`` file; returns how many were written."""
    with Path(path).open("wb") as fh, MaskWriter(fh, width, height) as writer:
        for mask in masks:
            writer.write(mask)
        return writer.count


def read_mask_stream(path: Path) -> Iterator[Mask]:
    """Masks of a ``.tmask`` file, lazily."""
    with Path(path).open("rb") as fh:
        yield from iter_masks(fh)


def write_png_mask(directory: Path, index: int, mask: Mask) -> Path:
    """Write ``mask`` as ``directory/{index:05d}.png`` (255 = object)."""
    path = Path(directory) / f"{index:05d}.png"
    if not cv2.imwrite(str(path), mask.astype(np.uint8) * 255):
        raise MediaError(f"cannot write mask PNG {path}")
    return path


def write_png_masks(directory: Path, masks: Iterable[Mask]) -> int:
    """Write one PNG per mask into ``directory`` (created); returns the count."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, mask in enumerate(masks, start=1):
        write_png_mask(directory, count - 1, mask)
    return count


def list_png_masks(directory: Path) -> list[Path]:
    """Sorted PNG files of a mask folder; ``MaskFormatError`` if none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MaskFormatError(f"{directory}: mask folder not found")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise MaskFormatError(f"{directory}: no PNG masks in the folder")
    return files


def read_png_masks(directory: Path, size: tuple[int, int] | None = None) -> Iterator[Mask]:
    """Masks of a PNG folder in name order; ``size=(w, h)``: each must have that size."""
    for path in list_png_masks(directory):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise MaskFormatError(f"{path}: not a readable PNG image")
        if size is not None and (image.shape[1], image.shape[0]) != size:
            # A mask drawn on a rotated video as a player shows it has the sides swapped.
            hint = (
                " (masks use the stored frame's pixels, before display rotation)"
                if (image.shape[0], image.shape[1]) == size
                else ""
            )
            raise MaskFormatError(
                f"{path}: mask is {image.shape[1]}x{image.shape[0]}, "
                f"the video is {size[0]}x{size[1]}{hint}"
            )
        yield image > 127
