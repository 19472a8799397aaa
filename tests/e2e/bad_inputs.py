"""The bad-input corpus of issue 9: files an attacker (or an unlucky user) uploads, each
made here from scratch, with what TapMask must answer. ``CASES`` maps a name to
(file name, maker, expected): expected is ``("refused", words)`` for a 4xx at job creation
(or the CLI's one-line error) naming the problem, ``("failed", words)`` for a job accepted
and then failed with that reason, ``("ok", "")`` for files that must work."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Any

import av
import numpy as np
from av_frames import encode_all, silence
from PIL import Image

W, H = 96, 64


def _frames(count: int, w: int = W, h: int = H) -> list[av.VideoFrame]:
    out = []
    for i in range(count):
        img = np.full((h, w, 3), 40, np.uint8)
        x = (i * 3) % max(1, w - 20)
        img[h // 3 : h // 3 + 16, x : x + 16] = (230, 60, 40)
        out.append(av.VideoFrame.from_ndarray(img, format="rgb24"))
    return out


def h264_mp4(path: Path, frames: int = 20, options: dict[str, str] | None = None) -> Path:
    with av.open(str(path), "w", format="mp4", options=options or {}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        encode_all(out, stream, _frames(frames))
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def text(path: Path) -> Path:
    path.write_text("Dear diary, today I renamed a text file to .mp4.\n" * 40)
    return path


def truncated(path: Path) -> Path:
    h264_mp4(path, 40, {"movflags": "faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def image(fmt: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        buf = io.BytesIO()
        pic = Image.fromarray(np.full((H, W, 3), 120, np.uint8))
        if fmt == "GIF":
            frames = [Image.fromarray(np.full((H, W, 3), v, np.uint8)) for v in (0, 90, 180)]
            frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
        else:
            pic.save(buf, fmt)
        path.write_bytes(buf.getvalue())
        return path

    return make


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        encode_all(out, stream, silence(20, 48000))
    return path


def _square_stream(out: Any, codec: str, rate: int, side: int, pix_fmt: str) -> Any:
    """A video stream of ``out`` for square frames of ``side`` pixels."""
    stream = out.add_stream(codec, rate=rate)
    stream.width = stream.height = side
    stream.pix_fmt = pix_fmt
    return stream


def huge_picture(path: Path) -> Path:
    """One 8192x8192 MJPEG frame (black: a few hundred kB)."""
    with av.open(str(path), "w", format="avi") as out:
        stream = _square_stream(out, "mjpeg", 1, 8192, "yuvj420p")
        frame = av.VideoFrame(8192, 8192, "yuvj420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        encode_all(out, stream, [frame])
    return path


def tiny_fast(path: Path) -> Path:
    """16x16 pixels at 1000 frames per second."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = _square_stream(out, "libx264", 1000, 16, "yuv420p")
        encode_all(out, stream, _frames(300, 16, 16))
    return path


def _jpegs(w: int, h: int, count: int) -> list[bytes]:
    cc = av.CodecContext.create("mjpeg", "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = w, h, "yuvj420p", Fraction(1, 10)
    data: list[bytes] = []
    for i in range(count):
        if w * h > 4096 * 2160:  # a plain grey picture, made without an RGB copy
            f = av.VideoFrame(w, h, "yuvj420p")
            for plane in f.planes:
                plane.update(bytes([128]) * plane.buffer_size)
        else:
            f = _frames(count, w, h)[i].reformat(format="yuvj420p")
        f.pts = i
        data += [bytes(p) for p in cc.encode(f)]
    return data + [bytes(p) for p in cc.encode(None)]


def _mux_encoded(out: Any, stream: Any, encoded: Iterable[bytes]) -> None:
    """Frames encoded already, muxed into ``stream`` one after another at 10 a second."""
    for index, data in enumerate(encoded):
        packet = av.Packet(data)
        packet.stream, packet.pts, packet.dts = stream, index, index
        packet.time_base = Fraction(1, 10)
        out.mux(packet)


def growing_mjpeg(later: tuple[int, int]) -> Callable[[Path], Path]:
    """An AVI whose header and first 6 frames are 96x64, then frames of ``later``."""

    def make(path: Path) -> Path:
        with av.open(str(path), "w", format="avi") as out:
            stream = out.add_stream("mjpeg", rate=10)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuvj420p"
            sizes = (((W, H), 6), (later, 4))
            _mux_encoded(out, stream, chain.from_iterable(_jpegs(*s, n) for s, n in sizes))
        return path

    return make


def h264_sps_change(path: Path) -> Path:
    """Matroska H.264 whose second half carries a new in-band SPS for another size."""

    def packets(w: int, h: int, count: int) -> list[bytes]:
        cc = av.CodecContext.create("libx264", "w")
        cc.width, cc.height, cc.pix_fmt, cc.time_base = w, h, "yuv420p", Fraction(1, 10)
        cc.options = {"x264-params": "keyint=100:repeat-headers=1"}
        data: list[bytes] = []
        for i, frame in enumerate(_frames(count, w, h)):
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            data += [bytes(p) for p in cc.encode(frame)]
        return data + [bytes(p) for p in cc.encode(None)]

    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("h264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        sizes = ((W, H), (W * 2, H * 3))
        _mux_encoded(out, stream, chain.from_iterable(packets(w, h, 6) for w, h in sizes))
    return path


def timestamp_jump(path: Path) -> Path:
    """Ten frames, the last one 30 days after the first."""
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for i, frame in enumerate(_frames(10)):
            frame.pts = i if i < 9 else 30 * 24 * 3600 * 10
            frame.time_base = Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def many_streams(path: Path) -> Path:
    with av.open(str(path), "w", format="matroska") as out:
        streams = []
        for _ in range(12):
            s = out.add_stream("mjpeg", rate=10)
            s.width, s.height, s.pix_fmt = W, H, "yuvj420p"
            streams.append(s)
        for frame in _frames(3):
            for s in streams:
                out.mux(s.encode(frame.reformat(format="yuvj420p")))
        for s in streams:
            out.mux(s.encode(None))
    return path


def playlist(path: Path) -> Path:
    path.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nfile:///etc/passwd\n#EXTINF:10,\n"
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/\n"
        "#EXT-X-ENDLIST\n"
    )
    return path


def box_bomb(path: Path) -> Path:
    """A real clip whose index box claims 2^62 bytes (64-bit size), then nested boxes."""
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 0x200, b"isom", b"mp41")
    nested = b""
    for _ in range(2000):
        nested = struct.pack(">I4s", 8 + len(nested), b"trak") + nested
    moov = struct.pack(">I4sQ", 1, b"moov", 2**62) + nested
    path.write_bytes(ftyp + moov)
    return path


def moov_at_end(path: Path) -> Path:
    return h264_mp4(path, 20)  # PyAV's mp4 muxer writes the index last by default


def fragmented(path: Path) -> Path:
    return h264_mp4(path, 20, {"movflags": "frag_keyframe+empty_moov+default_base_moof"})


Maker = Callable[[Path], Path]
CASES: dict[str, tuple[str, Maker, tuple[str, str]]] = {
    "zero-byte": ("zero.mp4", zero_bytes, ("refused", "empty")),
    "text-renamed": ("notes.mp4", text, ("refused", "not a video file")),
    "truncated-mp4": ("cut.mp4", truncated, ("refused", "truncated")),
    "gif-renamed": ("anim.mp4", image("GIF"), ("refused", "not a video file")),
    "png-renamed": ("still.mp4", image("PNG"), ("refused", "not a video file")),
    "avif-renamed": ("still2.mp4", image("AVIF"), ("refused", "an image (AVIF), not a video")),
    "audio-only": ("song.mp4", audio_only, ("refused", "no video stream")),
    "8192x8192": ("big.avi", huge_picture, ("refused", "pixels per frame is more than")),
    "16x16-1000fps": ("tiny.mp4", tiny_fast, ("refused", "1000 frames per second is more than")),
    "grows-same-aspect": (
        "grow1.avi",
        growing_mjpeg((W * 2, H * 2)),
        ("failed", "changes size mid-stream"),
    ),
    "grows-other-aspect": (
        "grow2.avi",
        growing_mjpeg((W * 3, H)),
        ("failed", "changes size mid-stream"),
    ),
    "grows-to-48-megapixels": (
        "grow3.avi",
        growing_mjpeg((8000, 6000)),
        ("failed", "larger than the"),
    ),
    "h264-sps-change": ("sps.mkv", h264_sps_change, ("failed", "changes size mid-stream")),
    "timestamp-jump": ("jump.mkv", timestamp_jump, ("refused", "s allowed")),
    "many-streams": ("streams.mkv", many_streams, ("refused", "more than 8 streams")),
    "m3u-playlist": ("list.mp4", playlist, ("refused", "not a video file")),
    "box-bomb": ("bomb.mp4", box_bomb, ("refused", "truncated or incomplete")),
    "moov-at-end": ("end.mp4", moov_at_end, ("ok", "")),
    "fragmented-mp4": ("frag.mp4", fragmented, ("ok", "")),
}
