"""The rolling clip buffer: whole GOPs, the window in seconds, the byte budget."""

from __future__ import annotations

import pytest

from camera.clip_buffer import ClipBuffer
from camera.rtsp.depacketize import AccessUnit


def _feed(buf: ClipBuffer, seconds: float, fps: int = 25, gop: int = 50, size: int = 1000) -> None:
    for n in range(int(seconds * fps)):
        key = n % gop == 0
        buf.add(AccessUnit(bytes(size * (5 if key else 1)), key, n * 3600), 1000.0 + n / fps)


def test_keeps_whole_gops_covering_the_window() -> None:
    buf = ClipBuffer(seconds=5, max_bytes=10**9)
    _feed(buf, 20)  # GOPs of 2 s
    span = buf.span()
    assert span is not None
    oldest, newest = span
    assert newest - oldest >= 5 and newest - oldest < 5 + 2  # at most one GOP over
    assert (oldest - 1000.0) % 2 == 0  # starts on a keyframe


def test_clip_starts_at_the_keyframe_before_its_start_and_stops_at_its_end() -> None:
    buf = ClipBuffer(seconds=10, max_bytes=10**9)
    _feed(buf, 12)
    units = buf.clip(1005.0, 1008.0)  # keyframes at 1004 and 1006: from 1004 on
    assert units[0].keyframe and units[0].rtp_timestamp == 100 * 3600
    assert units[-1].rtp_timestamp == 200 * 3600  # the unit at 1008.0
    assert len(units) == 101
    assert buf.clip(900.0, 950.0) == []  # all of it before what is kept: nothing to show


def test_the_byte_budget_bounds_a_long_window() -> None:
    buf = ClipBuffer(seconds=3600, max_bytes=200_000)
    _feed(buf, 60)
    assert 200_000 - 54_000 < buf.nbytes <= 200_000  # full to within one GOP (54 kB)


def test_units_before_the_first_keyframe_are_dropped() -> None:
    buf = ClipBuffer(seconds=5, max_bytes=10**6)
    buf.add(AccessUnit(b"x" * 10, False, 0), 1.0)
    assert buf.span() is None and buf.nbytes == 0
    with pytest.raises(ValueError):
        ClipBuffer(seconds=0, max_bytes=1)
