"""Top-level MP4/MOV box layout against the file's size: catches cut-off files early.

A phone or camera writes the index (``moov`` box) after the media data (``mdat``), so a
file cut short (an unfinished upload, copy or recording) has no index or half of one.
FFmpeg then reports whatever it happened to parse ("no video stream", or nothing wrong at
all); the box sizes say plainly that the file is incomplete.
"""

from __future__ import annotations

import struct
from pathlib import Path

#: Boxes that may open an MP4/MOV file (ISO BMFF and QuickTime).
MP4_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
#: Boxes walked at most; past that (a hostile file of tiny boxes) FFmpeg decides.
_MAX_BOXES = 10_000


def looks_like_mp4(head: bytes) -> bool:
    """True if the file's first bytes are an MP4/MOV box header."""
    return len(head) >= 8 and head[4:8] in MP4_FIRST_BOXES


#: ``ftyp`` brands of still images and image sequences in the same box format (HEIF,
#: AVIF): a photo renamed .mp4 is an image, not a "truncated video".
IMAGE_BRANDS = frozenset(
    {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
)


def image_brand(head: bytes) -> str | None:
    """The image brand (e.g. ``avif``) of a file whose first box is an ``ftyp`` naming
    one as its major brand, else None."""
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in IMAGE_BRANDS:
        return head[8:12].decode()
    return None


def _is_box_name(kind: bytes) -> bool:
    return all(32 <= c < 127 for c in kind)


def truncation_problem(path: Path) -> str | None:
    """Why ``path`` (an MP4/MOV) is cut short, in words, or ``None`` if its top-level
    boxes fit the file and it has an index (or is not laid out as boxes at all)."""
    size = path.stat().st_size
    seen: set[bytes] = set()
    with path.open("rb") as fh:
        pos = 0
        for _ in range(_MAX_BOXES):
            if pos + 8 > size:
                break
            fh.seek(pos)
            head = fh.read(16)
            box_size, kind = struct.unpack(">I4s", head[:8])
            if not _is_box_name(kind):
                break  # trailing bytes that are not a box: leave them to FFmpeg
            if box_size == 1:  # 64-bit size follows the type
                if len(head) < 16:
                    return f"it ends inside the header of its '{kind.decode()}' box"
                box_size = struct.unpack(">Q", head[8:16])[0]
            elif box_size == 0:  # runs to the end of the file
                box_size = size - pos
            if box_size < 8:
                break
            end = pos + box_size
            if end > size:
                what = {b"moov": " (the index)", b"mdat": " (the video data)"}.get(kind, "")
                return (
                    f"it ends at byte {size} but its '{kind.decode()}' box{what} runs to byte {end}"
                )
            seen.add(kind)
            pos = end
    if b"mdat" in seen and b"moov" not in seen and b"moof" not in seen:
        return "it holds video data but no index ('moov' box), which is written last"
    return None
