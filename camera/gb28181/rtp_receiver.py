"""RTP carrying GB/T 28181 PS: packets → whole pictures' PS bytes, for `ps_demux`.

Unlike RTSP over TCP (`camera.rtsp`), GB/T 28181 media mostly comes over UDP, so packets
arrive late, twice, out of order or not at all. `Reorder` puts them back in sequence within
a small window (`window` packets or `max_delay_s`, whichever is reached first: the wait a
hole may cost) and counts what never came; `FrameAssembler` joins a picture's payloads
until the marker bit (or, for devices that never set it, a new timestamp) and drops a
picture with a hole in it: PS cut in the middle cannot be demuxed, and the decoder is
better off without it. Every structure is bounded; nothing here raises on what a peer sends.

`RtpReceiver` ties them together behind a check of who may send: the SSRC the INVITE's `y=`
named and the payload type its answer agreed (others are counted and dropped).

`push_many` is the hot path (every packet of every GB camera): most packets are the next in
sequence with nothing held, and it takes those straight from the read buffer into their
picture (`Reorder.next_in_order`, `FrameAssembler.add`), without a packet object or a copy
of their own; anything else goes the general way (`push`), with the same result.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

MAX_FRAME_BYTES = 4 * 1024 * 1024
REORDER_WINDOW = 64  # packets: ~4 frames of 720p at 2 Mb/s
REORDER_DELAY_S = 0.2
# A jump this far ahead is a sender that restarted its sequence, not loss.
_RESTART_JUMP = 3000
_HEADER = struct.Struct(">BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_PLAIN = 0x80  # version 2, no padding, no extension, no CSRC: a 12-byte header


@dataclass(slots=True)
class RtpPacket:
    seq: int
    timestamp: int
    marker: bool
    payload_type: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """RFC 3550 fixed header (CSRCs, extension and padding stepped over); None when `data`
    is not an RTP version 2 packet with a payload."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2:
        return None
    start = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:  # header extension: 4 bytes + its length in words
        if start + 4 > n:
            return None
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    end = n
    if data[0] & 0x20:  # padding: the last byte says how much
        end -= data[-1]
    if start >= end:
        return None
    return RtpPacket(
        seq=(data[2] << 8) | data[3],
        timestamp=int.from_bytes(data[4:8], "big"),
        marker=bool(data[1] & 0x80),
        payload_type=data[1] & 0x7F,
        ssrc=int.from_bytes(data[8:12], "big"),
        payload=data[start:end],
    )


class Reorder:
    """Packets in sequence order; each handed out with whether packets are missing before
    it (`gap`)."""

    def __init__(
        self,
        window: int = REORDER_WINDOW,
        max_delay_s: float = REORDER_DELAY_S,
    ) -> None:
        self.window = window
        self.max_delay_s = max_delay_s
        self.lost = 0  # packets never received
        self.late = 0  # duplicates, and packets that came after their place was given up
        self.reordered = 0  # packets that arrived before one that precedes them
        self._expected: int | None = None
        self._held: dict[int, tuple[RtpPacket, float]] = {}  # seq -> packet, arrival
        self._gap = False
        self._late_run = 0

    def push(self, packet: RtpPacket, now: float) -> list[tuple[RtpPacket, bool]]:
        out: list[tuple[RtpPacket, bool]] = []
        if self._expected is None:
            self._expected = packet.seq
        ahead = (packet.seq - self._expected) & 0xFFFF
        if ahead >= 0x8000 or packet.seq in self._held:
            self.late += 1
            self._late_run += 1
            if self._late_run <= self.window:
                return out
            ahead = _RESTART_JUMP + 1  # a whole window "behind": the sender started over
        self._late_run = 0
        if ahead > _RESTART_JUMP:
            self._drain_all(out)  # what is held goes first; the new numbering follows
            self._expected = packet.seq
            self._gap = True
        elif not ahead and self._held:
            self.reordered += 1  # the packet a hole waited for: it came after later ones
        self._held[packet.seq] = (packet, now)
        self._drain(out)
        self._skip_holes(out, now)
        return out

    def next_in_order(self, seq: int) -> bool | None:
        """For the packet numbered `seq` when it is the one expected and nothing is held:
        take it as `push` would (it is handed straight out) and return its `gap`; None
        (nothing done) otherwise: that packet goes through `push`."""
        if seq != self._expected or self._held:
            return None
        gap = self._gap
        self._gap = False
        self._late_run = 0
        self._expected = (seq + 1) & 0xFFFF
        return gap

    def tick(self, now: float) -> list[tuple[RtpPacket, bool]]:
        """Give up holes that have waited `max_delay_s` (call when no packet came)."""
        out: list[tuple[RtpPacket, bool]] = []
        self._skip_holes(out, now)
        return out

    def _drain(self, out: list[tuple[RtpPacket, bool]]) -> None:
        assert self._expected is not None
        while self._expected in self._held:
            out.append((self._held.pop(self._expected)[0], self._gap))
            self._gap = False
            self._expected = (self._expected + 1) & 0xFFFF

    def _skip_holes(self, out: list[tuple[RtpPacket, bool]], now: float) -> None:
        # A hole is given up when the window is full behind it, or when the packet that
        # has waited longest behind it has waited max_delay_s (holes are rare: the scan of
        # at most `window` entries is only paid while one is open).
        while self._held and (
            len(self._held) > self.window
            or now - min(at for _, at in self._held.values()) > self.max_delay_s
        ):
            expected = self._expected
            assert expected is not None
            nearest = min(self._held, key=lambda s: (s - expected) & 0xFFFF)
            self.lost += (nearest - expected) & 0xFFFF
            self._expected = nearest
            self._gap = True
            self._drain(out)

    def _drain_all(self, out: list[tuple[RtpPacket, bool]]) -> None:
        assert self._expected is not None
        start = self._expected
        for seq in sorted(self._held, key=lambda s: (s - start) & 0xFFFF):
            out.append((self._held[seq][0], True))
        self._held.clear()


class FrameAssembler:
    """In-order payloads → one picture's bytes and its RTP timestamp."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.dropped = 0  # pictures with a hole (or too big), not handed on
        # The picture so far: payloads are copied in as they come (from a read buffer that
        # is reused), one copy per byte and no object per packet.
        self._frame = bytearray()
        self._ts: int | None = None
        self._broken = False

    def push(self, packet: RtpPacket, gap: bool) -> list[tuple[bytes, int]]:
        out: list[tuple[bytes, int]] = []
        self.add(packet.payload, packet.timestamp, packet.marker, gap, out)
        return out

    def add(
        self,
        payload: bytes | memoryview,
        timestamp: int,
        marker: bool,
        gap: bool,
        out: list[tuple[bytes, int]],
    ) -> None:
        """One in-order packet's payload (`push` without the packet); pictures it closes
        are appended to `out`."""
        if gap:
            # Lost packets belong to this picture or begin the next: neither is whole.
            self._broken = True
        if self._ts is not None and timestamp != self._ts:
            self._close(out)  # a new timestamp ends the picture whose marker went missing
            self._broken = gap
        if self._ts is None:
            self._ts = timestamp
        if not self._broken:
            frame = self._frame
            if len(frame) + len(payload) > self.max_frame_bytes:
                self._broken = True
                frame.clear()
            else:
                frame += payload
        if marker:
            self._close(out)

    def _close(self, out: list[tuple[bytes, int]]) -> None:
        if self._ts is not None:
            if self._broken or not self._frame:
                self.dropped += 1
            else:
                out.append((bytes(self._frame), self._ts))
        self._frame.clear()
        self._ts = None
        self._broken = False


class RtpReceiver:
    """Datagrams (or RFC 4571 frames) of one media session → pictures' PS bytes."""

    def __init__(
        self,
        ssrc: int | None,
        payload_type: int = 96,
        *,
        window: int = REORDER_WINDOW,
        max_delay_s: float = REORDER_DELAY_S,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.reorder = Reorder(window, max_delay_s)
        self.frames = FrameAssembler(max_frame_bytes)
        self.packets = 0
        self.malformed = 0  # not RTP
        self.foreign = 0  # another SSRC or payload type: not this session's stream

    @property
    def errors(self) -> int:
        """Everything that cost a picture or was not the stream, for `stream_errors`."""
        return self.malformed + self.foreign + self.frames.dropped

    def push(self, data: bytes, now: float | None = None) -> list[tuple[bytes, int]]:
        packet = parse_rtp(data)
        if packet is None:
            self.malformed += 1
            return []
        if packet.payload_type != self.payload_type or (
            self.ssrc is not None and packet.ssrc != self.ssrc
        ):
            self.foreign += 1
            return []
        self.packets += 1
        out: list[tuple[bytes, int]] = []
        for p, gap in self.reorder.push(packet, time.monotonic() if now is None else now):
            out += self.frames.push(p, gap)
        return out

    def push_many(
        self, buf: memoryview, spans: Iterable[tuple[int, int]], now: float
    ) -> list[tuple[bytes, int]]:
        """`push` of each packet at `buf[start:end]`, in order; nothing is kept of `buf`
        (it may be reused once this returns)."""
        out: list[tuple[bytes, int]] = []
        pt, ssrc = self.payload_type, self.ssrc
        unpack = _HEADER.unpack_from
        next_in_order = self.reorder.next_in_order
        add = self.frames.add
        for start, end in spans:
            if end - start > 12:
                b0, b1, seq, ts, src = unpack(buf, start)
                if (
                    b0 == _PLAIN
                    and b1 & 0x7F == pt
                    and (ssrc is None or src == ssrc)
                    and (gap := next_in_order(seq)) is not None
                ):
                    self.packets += 1
                    add(buf[start + 12 : end], ts, b1 & 0x80 != 0, gap, out)
                    continue
            out += self.push(bytes(buf[start:end]), now)
        return out

    def tick(self, now: float | None = None) -> list[tuple[bytes, int]]:
        out: list[tuple[bytes, int]] = []
        for p, gap in self.reorder.tick(time.monotonic() if now is None else now):
            out += self.frames.push(p, gap)
        return out
