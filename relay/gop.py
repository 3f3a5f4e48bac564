"""Encoded frames as the relay passes them on, and the cache of the current GOP.

A passthrough relay cannot ask the camera for a keyframe when a viewer joins; the cache of
everything since the last keyframe lets a late joiner decode at once instead of waiting up to
a GOP (2 s at GOP 50, 25 fps) for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

START = b"\x00\x00\x00\x01"
NAL_SPS = 7
NAL_PPS = 8


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One Annex-B access unit. `pts` is in 1/90000 s, increasing for the upstream's life."""

    data: bytes
    keyframe: bool
    pts: int
    # time.monotonic() when the last byte arrived from the camera (latency accounting).
    received_at: float
    # The camera's own RTP timestamp, carried for end-to-end latency measurement.
    rtp_timestamp: int
    # Work done once per frame for every viewer (RTP payloads, the av.Packet): see packer.py.
    shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def nal_types(au: bytes) -> set[int]:
    """H.264 NAL unit types present in an Annex-B access unit."""
    types = set()
    i = au.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(au):
        types.add(au[i + 3] & 0x1F)
        i = au.find(b"\x00\x00\x01", i + 3)
    return types


def with_parameter_sets(au: bytes, parameter_sets: list[bytes]) -> bytes:
    """A keyframe that lacks SPS/PPS (cameras that send them only in the SDP) gets them."""
    if not parameter_sets:
        return au
    present = nal_types(au)
    if NAL_SPS in present and NAL_PPS in present:
        return au
    return b"".join(START + ps for ps in parameter_sets) + au


# A joiner's burst is at most this much video; beyond it (a camera with a huge GOP or bitrate)
# the cache is dropped and a joiner waits for the next keyframe instead.
MAX_GOP_FRAMES = 300
MAX_GOP_BYTES = 16 * 1024 * 1024


class GopCache:
    """Frames since the last keyframe; emptied when it would exceed `max_frames` or
    `max_bytes` (each camera holds one, so these bound the relay's per-camera memory)."""

    def __init__(self, max_frames: int = MAX_GOP_FRAMES, max_bytes: int = MAX_GOP_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.bytes = 0
        self._frames: list[EncodedFrame] = []

    def add(self, frame: EncodedFrame) -> None:
        if frame.keyframe:
            self._frames = [frame]
            self.bytes = len(frame.data)
        elif self._frames:
            size = len(frame.data)
            if len(self._frames) >= self.max_frames or self.bytes + size > self.max_bytes:
                # A joiner waiting beats a burst of seconds of video (and unbounded memory).
                self.clear()
            else:
                self._frames.append(frame)
                self.bytes += size

    def clear(self) -> None:
        self._frames = []
        self.bytes = 0

    def snapshot(self) -> list[EncodedFrame]:
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


def squeeze(frames: list[EncodedFrame], step: int = 90) -> list[EncodedFrame]:
    """The cached GOP re-timed to end at the newest frame's pts, `step` ticks apart.

    Sent with their real timestamps, a burst of cached frames would set the browser's playout
    clock a whole GOP behind live, for good. Squeezed, the browser decodes them at once and
    shows the newest, then live frames follow at their real spacing.
    """
    if not frames:
        return []
    last = frames[-1].pts
    n = len(frames)
    return [
        EncodedFrame(f.data, f.keyframe, last - (n - 1 - i) * step, f.received_at, f.rtp_timestamp)
        for i, f in enumerate(frames)
    ]
