"""Small helpers of the recorder (`ingest.recorder`): a camera's RTP clock as unix time,
the parameter sets a keyframe carries in-band, and a picture's size.

Times: a segment's start and end must let consecutive segments join, so they come from the
camera's own 90 kHz clock (steady, frame-exact) anchored to our arrival time of the
connection's first unit, not from arrival times (jittered by the network and our polling).
"""

from __future__ import annotations

import math

import av

_MASK = 0xFFFFFFFF
_HALF = 0x80000000
_WINDOW = 4096  # parameter sets lead a keyframe: look no further
_H264_SETS = (7, 8)  # SPS, PPS
_HEVC_SETS = (32, 33, 34)  # VPS, SPS, PPS
_DEFAULT_FRAME_TICKS = 3600  # 25 fps, until two units are seen


class RtpClock:
    """One connection's RTP timestamps (unwrapped: `ticks`, 90 kHz) and their unix times.

    A unit arrives some delay after its picture was taken, never before: the smallest
    arrival-minus-RTP offset seen is the truest anchor. A burst at connect (a server
    sending what it held) or a stalled reader (units read late) only raise the offset, so
    they are ignored; a camera clock slower than ours raises it for good, so at each
    segment start (`roll`) the anchor follows when the last segment's smallest offset has
    moved over a second. Times are read when a segment closes (`unix`), with the anchor
    settled by then.
    """

    def __init__(self) -> None:
        self._offset = math.inf  # unix time of tick 0
        self._window = math.inf  # the smallest offset since the last roll
        self._last_ts: int | None = None
        self._ticks = 0  # of the last unit
        self.latest = 0  # the latest ticks seen (B-frames step back)
        self._units = 0

    def ticks(self, rtp_ts: int, at: float) -> int:
        """The unit's unwrapped time; `at` is when it arrived (unix)."""
        if self._last_ts is not None:
            delta = (rtp_ts - self._last_ts) & _MASK
            if delta >= _HALF:  # a step back (B-frames in presentation order, a glitch)
                delta -= 1 << 32
            self._ticks += delta
            self.latest = max(self.latest, self._ticks)
        self._last_ts = rtp_ts
        self._units += 1
        offset = at - self._ticks / 90000
        self._window = min(self._window, offset)
        if offset < self._offset:
            self._offset = offset
        return self._ticks

    def roll(self) -> None:
        """A segment starts: follow a camera clock that drifted slow by over a second."""
        if self._window != math.inf and self._window - self._offset > 1.0:
            self._offset = self._window
        self._window = math.inf

    def unix(self, ticks: float) -> float:
        return self._offset + ticks / 90000

    @property
    def latest_unix(self) -> float | None:
        """When the latest picture seen ends (None before any)."""
        return None if self._units == 0 else self.unix(self.latest + self.frame_ticks)

    @property
    def frame_ticks(self) -> int:
        """One frame's length: the average step (servers stamping on arrival jitter each)."""
        if self._units < 2 or self.latest <= 0:
            return _DEFAULT_FRAME_TICKS
        return min(90000, self.latest // (self._units - 1))


def parameter_sets(data: bytes, codec: str) -> list[bytes]:
    """The parameter sets (H.264 SPS/PPS, H.265 VPS/SPS/PPS) at the start of an Annex B
    unit, without start codes; empty when it carries none."""
    hevc = codec in ("hevc", "h265")
    wanted = _HEVC_SETS if hevc else _H264_SETS
    parts = data[:_WINDOW].split(b"\x00\x00\x01")[1:]
    if len(data) > _WINDOW:
        parts = parts[:-1]  # the last may be cut by the window
    out: list[bytes] = []
    for part in parts:
        nal = part.rstrip(b"\x00")  # a 4-byte start code leaves a zero on the one before
        if not nal:
            continue
        kind = (nal[0] >> 1) & 0x3F if hevc else nal[0] & 0x1F
        if kind in wanted:
            out.append(nal)
        elif out and (kind < 32 if hevc else 1 <= kind <= 5):
            break  # the picture itself: no more sets
    return out


def probe_size(codec: str, sets: list[bytes], data: bytes) -> tuple[int | None, int | None]:
    """(width, height) of a keyframe, decoded once per set of parameter sets; (None, None)
    when it does not decode (the index says 'unknown', the recording goes on)."""
    try:
        ctx = av.CodecContext.create("hevc" if codec in ("hevc", "h265") else "h264", "r")
        prefix = b"".join(b"\x00\x00\x00\x01" + p for p in sets)
        decoded = [*ctx.decode(av.Packet(prefix + data)), *ctx.decode(None)]
        for frame in decoded:
            return int(frame.width), int(frame.height)
    except (av.FFmpegError, ValueError):
        pass
    return None, None
