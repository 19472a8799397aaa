"""Streaming encoder: H.264 yuv420p MP4 (yuv444p for odd sizes, see
:func:`output_pix_fmt`; faststart) with the input's timing, rotation and
audio.

Timing: every output frame carries the pts, time base and duration of the input frame it
came from, and the encoder runs in the input stream's time base, so variable frame rate
and total duration come out as they went in. Rotation: the input's display matrix is
written to the output stream. Audio: the first audio stream's packets are copied unchanged
(remuxed) when the output container accepts the codec, else transcoded to AAC. Audio is
read from its own demuxer over the input and interleaved by time as video is written, so
the muxer never has to buffer a whole track.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.video.frame import PictureType

from tapmask_media.closing import ClosedOnExit
from tapmask_media.probe import ProbeLimits, open_input


@dataclass(frozen=True)
class EncodeSettings:
    """Video encoder settings (libx264). ``threads=0``: one per core, chosen by x264."""

    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 23
    threads: int = 0
    faststart: bool = True
    #: How far (seconds) audio may run ahead of video in the interleaving.
    audio_lead_s: float = 0.5


def output_pix_fmt(width: int, height: int) -> str:
    """yuv420p, or yuv444p when a side is odd.

    4:2:0 halves both chroma axes, so x264 refuses odd sizes. Scaling, cropping or padding
    would change the resolution (the output must match the input), and x264 cannot write
    the bitstream crop that would hide a padding row/column. 4:4:4 keeps every pixel at
    the same size, at the price of the High 4:4:4 profile, which fewer players decode
    (many browsers and hardware decoders only play 4:2:0)."""
    return "yuv444p" if width % 2 or height % 2 else "yuv420p"


class _AudioPump:
    """Copies (or transcodes) the input's audio into ``out``, up to a given time."""

    def __init__(
        self, source: Path, out: av.container.OutputContainer, limits: ProbeLimits | None
    ) -> None:
        self._in = open_input(source, limits)
        in_audio = self._in.streams.audio[0]
        self._transcode = False
        try:
            self._out_stream: av.stream.Stream = out.add_stream_from_template(in_audio)
            self._encoder: AudioStream | None = None
        except ValueError:
            # The output container cannot hold this codec: transcode to AAC.
            self._transcode = True
            rate = in_audio.codec_context.sample_rate or 48000
            self._encoder = out.add_stream("aac", rate=rate)
            self._out_stream = self._encoder
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        self._packets: Iterator[av.Packet[AudioStream]] = self._in.demux(in_audio)
        self._in_audio = in_audio
        self._out = out
        self._pending: av.Packet[AudioStream] | None = None
        self._done = False

    def pump(self, until_s: float | None) -> None:
        """Mux audio packets whose time is before ``until_s`` (all if ``None``)."""
        while not self._done:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._done = True
                self._flush()
                return
            if packet.dts is None and packet.pts is None:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            t = float((ts or 0) * packet.time_base)
            if until_s is not None and t > until_s:
                self._pending = packet
                return
            self._write(packet)

    def _write(self, packet: av.Packet[AudioStream]) -> None:
        if not self._transcode:
            # Remux unchanged: mux() rebases the timestamps to the output stream.
            packet.stream = self._out_stream  # type: ignore[assignment]
            self._out.mux(packet)
            return
        assert self._encoder is not None
        for frame in packet.decode():
            if isinstance(frame, AudioFrame):
                for resampled in self._resampler.resample(frame):
                    self._out.mux(self._encoder.encode(resampled))

    def _flush(self) -> None:
        if self._encoder is not None:
            for resampled in self._resampler.resample(None):
                self._out.mux(self._encoder.encode(resampled))
            self._out.mux(self._encoder.encode(None))

    def close(self) -> None:
        self._in.close()


class VideoWriter(ClosedOnExit):
    """Write frames one at a time; open the streams on the first frame.

    ``audio_source``: a file whose first audio stream goes to the output (``None``: no
    audio). ``display_matrix``: copied to the output stream (rotation metadata)."""

    def __init__(
        self,
        output_path: Path,
        *,
        fps: Fraction | None,
        time_base: Fraction,
        display_matrix: tuple[int, ...] | None = None,
        audio_source: Path | None = None,
        settings: EncodeSettings | None = None,
        limits: ProbeLimits | None = None,
    ) -> None:
        self.settings = settings or EncodeSettings()
        self._path = Path(output_path)
        self._fps = fps
        self._time_base = time_base
        self._display_matrix = display_matrix
        self._audio_source = audio_source
        self._limits = limits
        options = {"movflags": "+faststart"} if self.settings.faststart else {}
        # "file:" so that a name with a colon is never read as a protocol (e.g. "rtmp:x").
        target = f"file:{self._path.resolve()}"
        self._out = av.open(target, mode="w", format="mp4", options=options)
        self._video: av.VideoStream | None = None
        self._pix_fmt = "yuv420p"
        self._audio: _AudioPump | None = None
        self.frames_written = 0

    def _open_streams(self, first: av.VideoFrame) -> av.VideoStream:
        s = self.settings
        video = self._out.add_stream(
            s.codec, rate=self._fps or Fraction(25), options={"preset": s.preset, "crf": str(s.crf)}
        )
        if not isinstance(video, av.VideoStream):
            raise ValueError(f"{s.codec!r} is not a video encoder")
        video.width = first.width
        video.height = first.height
        self._pix_fmt = output_pix_fmt(first.width, first.height)
        video.pix_fmt = self._pix_fmt
        video.time_base = self._time_base
        cc = video.codec_context
        cc.time_base = self._time_base
        cc.thread_count = s.threads
        cc.thread_type = "FRAME"
        # Keep the input's colour description so players show the same colours.
        for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
            value = getattr(first, attr, None)
            if value:
                setattr(cc, attr, value)
        if self._display_matrix is not None:
            video.set_display_matrix(list(self._display_matrix))
        if self._audio_source is not None:
            self._audio = _AudioPump(self._audio_source, self._out, self._limits)
        return video

    def write(self, frame: av.VideoFrame) -> None:
        """Encode ``frame``; its ``pts``/``time_base``/``duration`` set the output timing."""
        if self._video is None:
            self._video = self._open_streams(frame)
        if frame.format.name != self._pix_fmt:
            frame = frame.reformat(format=self._pix_fmt)
        # A decoded frame carries its source picture type; libx264 would obey it and copy
        # the input's GOP. Let the encoder choose, as the ffmpeg CLI does.
        frame.pict_type = PictureType.NONE
        packets = self._video.encode(frame)
        self._mux_video(packets)
        self.frames_written += 1

    def _mux_video(self, packets: list[av.Packet[av.VideoStream]]) -> None:
        for packet in packets:
            if self._audio is not None and packet.dts is not None:
                t = float(packet.dts * packet.time_base) + self.settings.audio_lead_s
                self._audio.pump(t)
            self._out.mux(packet)

    def close(self) -> None:
        """Flush the encoder and the rest of the audio, write the index (faststart)."""
        try:
            if self._video is not None:
                self._mux_video(self._video.encode(None))
            if self._audio is not None:
                self._audio.pump(None)
        finally:
            if self._audio is not None:
                self._audio.close()
            self._out.close()
