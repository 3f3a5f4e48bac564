"""RTP → Annex-B access units for H.264 (RFC 6184) and H.265 (RFC 7798).

Only cameras whose frames analytics wants pay for this; in keyframe mode the access units
of other frames are recognised from their first slice and skipped without copying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

START = b"\x00\x00\x00\x01"


@dataclass(slots=True)
class AccessUnit:
    data: bytes  # Annex-B
    keyframe: bool
    rtp_timestamp: int


def h264_kind(payload: bytes | bytearray | memoryview) -> int:
    """0: other NAL, 1: non-IDR slice, 2: IDR slice — for the NAL(s) starting here."""
    t = payload[0] & 0x1F
    if t == 28 and len(payload) > 1:  # FU-A: only the fragment that starts a NAL counts
        if not payload[1] & 0x80:
            return 0
        t = payload[1] & 0x1F
    return 2 if t == 5 else 1 if t == 1 else 0


def h265_kind(payload: bytes | bytearray | memoryview) -> int:
    t = (payload[0] >> 1) & 0x3F
    if t == 49 and len(payload) > 2:
        if not payload[2] & 0x80:
            return 0
        t = payload[2] & 0x3F
    return 2 if 16 <= t <= 21 else 1 if t < 16 else 0


class Assembler:
    """Collects one access unit at a time; calls `emit` when the marker bit closes it."""

    def __init__(
        self, codec: str, emit: Callable[[AccessUnit], None], keyframes_only: bool
    ) -> None:
        self._hevc = codec == "hevc"
        self._emit = emit
        self._keyframes_only = keyframes_only
        self._nals: list[bytearray] = []
        self._key = False
        self._skip = False
        self._broken = False
        self._last_seq: int | None = None
        self.lost = 0  # packets missing (sequence gaps) — the AU is dropped

    def push(
        self, packet: memoryview, payload_offset: int, seq: int, marker: bool, ts: int
    ) -> None:
        if self._last_seq is not None and seq != (self._last_seq + 1) & 0xFFFF:
            self.lost += 1
            self._broken = True
        self._last_seq = seq
        if not self._skip:
            payload = packet[payload_offset:]
            if payload:
                self._add(payload)
        if marker:
            complete = self._nals and not self._skip and not self._broken
            if complete and (self._key or not self._keyframes_only):
                self._emit(AccessUnit(b"".join(START + n for n in self._nals), self._key, ts))
            self._nals = []
            self._key = self._skip = self._broken = False

    def _add(self, p: memoryview) -> None:
        kind = h265_kind(p) if self._hevc else h264_kind(p)
        if kind == 2:
            self._key = True
        elif kind == 1 and self._keyframes_only:
            self._skip = True
            self._nals = []
            return
        if self._hevc:
            self._add_h265(p)
        else:
            self._add_h264(p)

    def _add_h264(self, p: memoryview) -> None:
        t = p[0] & 0x1F
        if 1 <= t <= 23:
            self._nals.append(bytearray(p))
        elif t == 24:  # STAP-A
            self._aggregate(p, 1)
        elif t == 28 and len(p) > 2:  # FU-A
            fu = p[1]
            if fu & 0x80:
                self._nals.append(bytearray([(p[0] & 0xE0) | (fu & 0x1F)]) + p[2:])
            elif self._nals:
                self._nals[-1] += p[2:]
            else:
                self._broken = True

    def _add_h265(self, p: memoryview) -> None:
        t = (p[0] >> 1) & 0x3F
        if t < 48:
            self._nals.append(bytearray(p))
        elif t == 48:  # aggregation packet
            self._aggregate(p, 2)
        elif t == 49 and len(p) > 3:
            fu = p[2]
            if fu & 0x80:
                head = bytearray([(p[0] & 0x81) | ((fu & 0x3F) << 1), p[1]])
                self._nals.append(head + p[3:])
            elif self._nals:
                self._nals[-1] += p[3:]
            else:
                self._broken = True

    def _aggregate(self, p: memoryview, header: int) -> None:
        i, n = header, len(p)
        while i + 2 <= n:
            size = (p[i] << 8) | p[i + 1]
            i += 2
            if size == 0 or i + size > n:
                self._broken = True
                return
            self._nals.append(bytearray(p[i : i + size]))
            i += size
