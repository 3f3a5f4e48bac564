"""Access units into fragmented MP4, remuxed as they arrive (no decoding, no re-encoding):
the container recording segments and alarm clips are written in, which Chromium plays
without plug-ins.

Both camera readers (`camera.reader`) hand out Annex B access units with a 90 kHz RTP
timestamp; FFmpeg's MP4 muxer (through PyAV) turns Annex B into length-prefixed NAL units and
the parameter sets into the `avcC`/`hvcC` box. Timing: RTP timestamps wrap every 13 hours
and a camera may step them back after a glitch, so they are unwrapped into a monotonic
90 kHz clock (a step back counts as one tick, the way the relay keeps time moving); the
first unit written is time 0. Cameras that send B-frames carry presentation order in their
RTP timestamps and no decode order, so decode time is kept increasing by the same rule.

A file starts at a keyframe (units before the first one are counted and skipped: a decoder
could not use them), so each segment and clip plays on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import av
from av.container import OutputContainer
from av.video.stream import VideoStream

from camera.rtsp.depacketize import AccessUnit

CLOCK = Fraction(1, 90000)
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
# Each keyframe starts a fragment (moof+mdat); the empty moov lets a player start before
# the file ends, and base-moof offsets are what Media Source Extensions expect.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_MUXER_CODEC = {"h264": "h264", "hevc": "hevc", "h265": "hevc"}


@dataclass(frozen=True)
class Fmp4Info:
    """What was written: enough to index a segment or describe a clip."""

    frames: int
    keyframes: int
    skipped: int  # units before the first keyframe, left out
    bytes_in: int  # access-unit bytes muxed (the stream's own size)
    first_ts: int | None  # the first unit's RTP timestamp (90 kHz, as the camera sent it)
    duration_s: float  # from the first unit to the last (one frame's length not added)


class Fmp4Writer:
    """One fragmented-MP4 file (a path or a binary file object) for one video stream."""

    def __init__(
        self,
        target: Path | IO[bytes],
        codec: str,
        parameter_sets: list[bytes] | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        muxer_codec = _MUXER_CODEC.get(codec)
        if muxer_codec is None:
            raise ValueError(f"cannot record {codec!r} video: only H.264 and H.265")
        self._out: OutputContainer = av.open(
            target if not isinstance(target, Path) else str(target),
            "w",
            format="mp4",
            options={"movflags": MOVFLAGS},
        )
        stream = self._out.add_stream(muxer_codec)
        assert isinstance(stream, VideoStream)
        stream.time_base = CLOCK
        if width and height:
            stream.width, stream.height = width, height
        sets = parameter_sets or []
        if sets:
            stream.codec_context.extradata = b"".join(b"\x00\x00\x00\x01" + p for p in sets)
        self._stream = stream
        self._prefix = b"".join(b"\x00\x00\x00\x01" + p for p in sets)
        self._hevc = muxer_codec == "hevc"
        self._last_rtp: int | None = None
        self._first_rtp: int | None = None
        self._clock = 0  # unwrapped 90 kHz time of the last unit written
        self._frames = self._keyframes = self._skipped = self._bytes = 0
        self._closed = False

    def write(self, au: AccessUnit) -> None:
        if self._closed:
            raise ValueError("write after close")
        if self._last_rtp is None:
            if not au.keyframe:
                self._skipped += 1
                return
            self._first_rtp = au.rtp_timestamp
        else:
            delta = (au.rtp_timestamp - self._last_rtp) & _MASK
            self._clock += delta if 0 < delta < _HALF else 1
        self._last_rtp = au.rtp_timestamp
        data = au.data
        if au.keyframe and self._prefix and not _has_parameter_sets(data, self._hevc):
            data = self._prefix + data  # a keyframe that decodes on its own (seeking, clips)
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.time_base = CLOCK
        packet.pts = packet.dts = self._clock
        packet.is_keyframe = au.keyframe
        self._out.mux(packet)
        self._frames += 1
        self._keyframes += au.keyframe
        self._bytes += len(au.data)

    def close(self) -> Fmp4Info:
        if not self._closed:
            self._closed = True
            self._out.close()
        return Fmp4Info(
            frames=self._frames,
            keyframes=self._keyframes,
            skipped=self._skipped,
            bytes_in=self._bytes,
            first_ts=self._first_rtp,
            duration_s=float(self._clock * CLOCK),
        )

    def __enter__(self) -> Fmp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _has_parameter_sets(data: bytes, hevc: bool) -> bool:
    """Whether an Annex B unit carries an SPS (H.264 type 7; H.265 VPS 32 or SPS 33) near its
    start, where encoders put them."""
    for part in data[:512].split(b"\x00\x00\x01")[1:]:
        if not part:
            continue
        kind = (part[0] >> 1) & 0x3F if hevc else part[0] & 0x1F
        if kind in ((32, 33) if hevc else (7,)):
            return True
    return False
