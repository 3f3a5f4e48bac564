"""MPEG-PS (ISO/IEC 13818-1 program stream, as GB/T 28181-2016 Annex C carries it) → the
H.264/H.265 access units every camera reader yields (`camera.reader`).

Why our own and not PyAV's "mpeg" demuxer over a pipe: FFmpeg's demuxer reads PS well and
resyncs after garbage, but fed from RTP it needs a thread and a pipe per camera, probes
(hundreds of KB, or `analyzeduration` of video) before its first packet, cannot be told
where a frame ends (the RTP marker knows; FFmpeg's parser guesses from the next frame's
start, a frame late), and reports a broken pack as a log line, not a count. A GB/T 28181
stream is a narrow PS: one pack per picture, a PSM naming the video's stream type on
keyframes, video PES 0xE0 split at 64 KiB. That fits in this module, runs on the reader's
own thread with no copy beyond the access unit, and counts what it skips.

Strict and bounded: `feed` takes one picture's PS bytes (what the RTP marker closed, see
`rtp_receiver`), never keeps more than one access unit (`max_unit_bytes`), and never
raises on input. A pack, PES or PSM that is malformed or cut short is skipped and counted in
`broken`; bytes that are not a start code are skipped up to the next one (one count per
resync). Video waits for a PSM naming H.264 (0x1B) or H.265 (0x24); another stream type
(SVAC, MPEG-4) is counted in `unsupported` and named in `unsupported_type`. The PSM's CRC
is not checked: devices in the field write wrong ones, and a wrong map still fails the
stream-type check.
"""

from __future__ import annotations

from camera.rtsp.depacketize import AccessUnit

PACK = 0xBA
SYSTEM_HEADER = 0xBB
PSM = 0xBC
END = 0xB9
VIDEO = 0xE0  # GB/T 28181 puts its video on the first video stream id
STREAM_TYPES = {0x1B: "h264", 0x24: "hevc"}
MAX_UNIT_BYTES = 4 * 1024 * 1024  # a 4K keyframe is ~1-2 MB
_TS_MASK = 0xFFFFFFFF  # PTS is 33 bits; access units carry a wrapping 32-bit 90 kHz clock
_START = b"\x00\x00\x01"
# Stream ids whose packets carry a 16-bit length (everything after the pack header).
_LENGTHED = frozenset([SYSTEM_HEADER, PSM, *range(0xBD, 0xF0), *range(0xF0, 0x100)])
# NAL units looked at for the keyframe flag before giving up (parameter sets, SEI, AUD
# come first; the first slice decides).
_MAX_NALS_SCANNED = 16


class PsDemuxer:
    """One camera's program stream; `feed` one picture's bytes at a time."""

    def __init__(self, max_unit_bytes: int = MAX_UNIT_BYTES) -> None:
        self.max_unit_bytes = max_unit_bytes
        self.codec: str | None = None  # from the PSM: "h264" or "hevc"
        self.broken = 0  # packs/PES/PSM skipped as malformed or truncated, resyncs
        self.unsupported = 0  # video PES skipped: no PSM yet, or a stream type we cannot read
        self.unsupported_type: int | None = None
        self.oversized = 0  # access units dropped for exceeding max_unit_bytes
        # Views into the picture being fed (a unit never outlives its `feed`): the access
        # unit is their one join, no copy per PES before it.
        self._parts: list[memoryview] = []
        self._size = 0
        self._pts: int | None = None
        self._too_big = False

    def feed(self, data: bytes, fallback_ts: int = 0) -> list[AccessUnit]:
        """The access units in one picture's PS bytes (the end of `data` ends the unit in
        progress). `fallback_ts` (the RTP timestamp) times a unit whose PES carry no PTS."""
        out: list[AccessUnit] = []
        view = memoryview(data)
        n = len(data)
        i = 0
        while i < n:
            if data[i : i + 3] != _START or n - i < 4:
                nxt = _next_start(data, i + 1)
                self.broken += 1
                if nxt < 0:
                    break
                i = nxt
                continue
            code = data[i + 3]
            if code == PACK:
                size = _pack_size(data, i)
                if size < 0:
                    self.broken += 1
                    i += 4  # resync from inside it
                    continue
                i += size
                continue
            if code == END:
                i += 4
                continue
            if code not in _LENGTHED or n - i < 6:
                self.broken += 1
                i += 4
                continue
            end = i + 6 + ((data[i + 4] << 8) | data[i + 5])
            if end > n:  # cut short: the rest of this picture is lost
                self.broken += 1
                break
            if code == PSM:
                self._psm(view[i:end])
            elif code == VIDEO:
                self._pes(view[i:end], out, fallback_ts)
            i = end  # system header, audio, private, padding: skipped by their length
        self._flush(out, fallback_ts)
        return out

    # --- program stream map -----------------------------------------------------------------

    def _psm(self, p: memoryview) -> None:
        n = len(p)
        if n < 16:
            self.broken += 1
            return
        info = (p[8] << 8) | p[9]
        at = 10 + info
        if at + 2 > n:
            self.broken += 1
            return
        es_end = at + 2 + ((p[at] << 8) | p[at + 1])
        at += 2
        if es_end + 4 > n:  # the CRC follows the map
            self.broken += 1
            return
        while at + 4 <= es_end:
            stream_type, stream_id = p[at], p[at + 1]
            at += 4 + ((p[at + 2] << 8) | p[at + 3])
            if stream_id == VIDEO:
                codec = STREAM_TYPES.get(stream_type)
                if codec is None:
                    self.unsupported_type = stream_type
                self.codec = codec
                return

    # --- video ------------------------------------------------------------------------------

    def _pes(self, p: memoryview, out: list[AccessUnit], fallback_ts: int) -> None:
        n = len(p)
        if n < 9 or p[6] & 0xC0 != 0x80:  # MPEG-2 PES header ('10' marker bits)
            self.broken += 1
            return
        start = 9 + p[8]
        if start > n:
            self.broken += 1
            return
        pts: int | None = None
        if p[7] & 0x80:
            if p[8] < 5:
                self.broken += 1
                return
            pts = _pts(p[9:14])
            if pts is None:
                self.broken += 1
                return
        if self.codec is None:
            self.unsupported += 1
            return
        if pts is not None and self._parts and pts != self._pts:
            self._flush(out, fallback_ts)  # a second picture inside one RTP frame
        if pts is not None and not self._parts:
            self._pts = pts
        payload = p[start:]
        if not payload:
            return
        self._size += len(payload)
        if self._size > self.max_unit_bytes:
            if not self._too_big:
                self.oversized += 1
            self._too_big = True
            self._parts.clear()
            return
        self._parts.append(payload)

    def _flush(self, out: list[AccessUnit], fallback_ts: int) -> None:
        parts, self._parts = self._parts, []
        pts, self._pts = self._pts, None
        self._size, self._too_big = 0, False
        if not parts or self.codec is None:
            return
        data = b"".join(parts)
        if not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
            self.broken += 1  # not Annex B: not a picture a decoder could use
            return
        ts = (pts if pts is not None else fallback_ts) & _TS_MASK
        out.append(AccessUnit(data, is_keyframe(data, self.codec == "hevc"), ts))


def is_keyframe(data: bytes, hevc: bool) -> bool:
    """Whether the access unit's first slice is an IDR (H.264) or IRAP (H.265) picture:
    the NAL units before it (AUD, parameter sets, SEI) are stepped over."""
    at = 0
    for _ in range(_MAX_NALS_SCANNED):
        at = data.find(_START, at)
        if at < 0 or at + 3 >= len(data):
            return False
        header = data[at + 3]
        at += 3
        if hevc:
            kind = (header >> 1) & 0x3F
            if kind < 32:  # a slice
                return 16 <= kind <= 21
        else:
            kind = header & 0x1F
            if 1 <= kind <= 5:
                return kind == 5
    return False


def _pack_size(data: bytes, i: int) -> int:
    """The MPEG-2 pack header's length at `i` (14 + stuffing), or -1 if malformed/cut."""
    if len(data) - i < 14 or data[i + 4] & 0xC4 != 0x44:  # '01' + marker bit
        return -1
    return 14 + (data[i + 13] & 0x07)


def _pts(b: memoryview) -> int | None:
    if not (b[0] & 1 and b[2] & 1 and b[4] & 1):  # the three marker bits
        return None
    return ((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


def _next_start(data: bytes, i: int) -> int:
    """The next start code at or after `i` whose id a program stream can hold."""
    while True:
        i = data.find(_START, i)
        if i < 0 or i + 3 >= len(data):
            return -1
        code = data[i + 3]
        if code in (PACK, END) or code in _LENGTHED:
            return i
        i += 1
