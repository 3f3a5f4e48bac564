"""One playing camera (on ingest's reader thread or the relay's loop): walks interleaved RTP
and keeps the counters.

`feed` is the hot path of ingest and the relay: for every RTP packet it reads a handful of
bytes (marker bit, first NAL header) and nothing else, unless an `Assembler` wants the access
units.
"""

from __future__ import annotations

import time

from camera.rtsp.counters import Counters
from camera.rtsp.depacketize import Assembler, h264_kind, h265_kind
from camera.rtsp.handshake import PlayingSession, parse_response_head

_DOLLAR = 0x24
MAX_BUFFER = 4 * 1024 * 1024


class Stream(Counters):
    def __init__(self, session: PlayingSession, assembler: Assembler | None) -> None:
        super().__init__()
        self.session = session
        self.assembler = assembler
        self._buf = bytearray()
        self._kind = h265_kind if session.track.codec == "hevc" else h264_kind
        self._channel = session.rtp_channel
        self._last_key_ts: int | None = None
        self._au_key = False
        self.last_keepalive = time.monotonic()

    def feed(self, data: bytes, now: float) -> None:
        """Consume bytes read from the socket (any split; partial frames are kept)."""
        self.bytes_total += len(data)
        self.last_data_at = now
        buf = self._buf
        if buf:
            buf += data
        else:
            buf = bytearray(data)
        n = len(buf)
        i = 0
        channel = self._channel
        kind = self._kind
        asm = self.assembler
        view = memoryview(buf)
        try:
            while i + 4 <= n:
                if buf[i] != _DOLLAR:
                    j = self._skip_non_rtp(buf, i)
                    if j < 0:
                        break
                    i = j
                    continue
                size = (buf[i + 2] << 8) | buf[i + 3]
                end = i + 4 + size
                if end > n:
                    break
                if buf[i + 1] == channel and size > 12:
                    h = i + 4
                    b0 = buf[h]
                    off = 12 + 4 * (b0 & 0x0F)
                    if b0 & 0x10 and h + off + 4 <= end:  # header extension
                        off += 4 + 4 * ((buf[h + off + 2] << 8) | buf[h + off + 3])
                    if h + off < end:
                        if kind(view[h + off : end]) == 2:
                            self._au_key = True
                        marker = buf[h + 1] & 0x80
                        if asm is not None:
                            asm.push(
                                view[h:end],
                                off,
                                (buf[h + 2] << 8) | buf[h + 3],
                                bool(marker),
                                int.from_bytes(view[h + 4 : h + 8], "big"),
                            )
                        if marker:
                            self._frame_done(now, view, h)
                i = end
        finally:
            view.release()
        if i:
            del buf[:i]
        if len(buf) > MAX_BUFFER:  # garbage that never resynchronises: drop it
            self.stream_errors += 1
            buf.clear()
        self._buf = buf

    def _frame_done(self, now: float, view: memoryview, h: int) -> None:
        self.frames_total += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        if self._au_key:
            self._au_key = False
            self.keyframes_total += 1
            ts = int.from_bytes(view[h + 4 : h + 8], "big")
            if self._last_key_ts is not None:
                delta = (ts - self._last_key_ts) & 0xFFFFFFFF
                rate = self.session.track.clock_rate
                # A timestamp that stepped back (encoder restart) wraps to half a day or more:
                # no interval to report, rather than a nonsense one (or a division by zero
                # on an SDP without a clock rate, which would drop the connection).
                if rate > 0 and delta < 0x80000000:
                    self.keyframe_interval_s = delta / rate
            self._last_key_ts = ts

    def _skip_non_rtp(self, buf: bytearray, i: int) -> int:
        """An RTSP answer (to our keep-alive) or garbage: returns where to go on, -1 = wait."""
        if buf.startswith(b"RTSP/", i):
            end = buf.find(b"\r\n\r\n", i)
            if end < 0:
                return -1 if len(buf) - i < 65536 else self._resync(buf, i)
            try:
                _, _, headers = parse_response_head(bytes(buf[i:end]))
                length = int((headers.get("content-length") or ["0"])[0] or 0)
            except (ValueError, Exception):
                return self._resync(buf, i)
            if end + 4 + length > len(buf):
                return -1
            return end + 4 + length
        if len(buf) - i < 5 and b"RTSP/".startswith(bytes(buf[i:])):
            return -1
        return self._resync(buf, i)

    def _resync(self, buf: bytearray, i: int) -> int:
        self.stream_errors += 1
        j = buf.find(b"$", i + 1)
        return j if j >= 0 else len(buf)
