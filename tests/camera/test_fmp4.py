"""Access units from a real camera (the simulated fleet, read through FFmpeg and through our
own RTSP client) remuxed into fragmented MP4 that FFmpeg reads back frame for frame: the
recording and alarm-clip container. A clip cut from the rolling buffer plays from its
keyframe and covers the window asked."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import yaml

from camera.clip_buffer import ClipBuffer
from camera.ffmpeg_source import FfmpegSource
from camera.fmp4 import Fmp4Writer
from camera.rtsp.depacketize import AccessUnit, Assembler
from camera.rtsp.handshake import open_session
from camera.rtsp.stream import Stream
from camera.spec import StreamSpec
from tests.fixtures_fleet import Fleet, free_port, stop_and_check

pytestmark = pytest.mark.integration

PATH = "/udp/vtest-360p/r"  # UDP only: read through FFmpeg
TCP_PATH = "/sim/vtest-360p/n"  # read through our own client


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    port = free_port()
    registry = tmp_path_factory.mktemp("fmp4") / "registry.yaml"
    cams = [{"streams": {"main": f"rtsp://127.0.0.1:{port}{p}"}} for p in (PATH, TCP_PATH)]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    f = Fleet(cameras=0, registry=registry, port=port).start()
    yield f
    stop_and_check(f)


def _read(fleet: Fleet, seconds: float) -> tuple[str, list[bytes], list[tuple[float, AccessUnit]]]:
    source = FfmpegSource(StreamSpec("r", fleet.url(PATH)), "test", 5.0, 3.0)
    opened = source.open()
    units: list[tuple[float, AccessUnit]] = []
    end = time.monotonic() + seconds
    try:
        for au in source.units(lambda: time.monotonic() > end):
            if au is not None:
                units.append((time.time(), au))
    finally:
        source.close()
    return opened.codec, opened.parameter_sets, units


def _read_native(
    fleet: Fleet, seconds: float
) -> tuple[str, list[bytes], list[tuple[float, AccessUnit]]]:
    session = open_session(fleet.url(TCP_PATH), timeout=5.0)
    units: list[tuple[float, AccessUnit]] = []
    stream = Stream(
        session,
        Assembler(session.track.codec, lambda au: units.append((time.time(), au)), False),
    )
    stream.feed(session.leftover, time.monotonic())
    session.sock.settimeout(1.0)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            stream.feed(session.sock.recv(65536), time.monotonic())
    finally:
        session.sock.close()
    return session.track.codec, list(session.track.parameter_sets), units


def _frames(data: bytes | Path) -> tuple[int, int, float, list[bool]]:
    with av.open(io.BytesIO(data) if isinstance(data, bytes) else str(data)) as c:
        s = c.streams.video[0]
        keys = [bool(p.is_keyframe) for p in c.demux(s) if p.size]
    with av.open(io.BytesIO(data) if isinstance(data, bytes) else str(data)) as c:
        s = c.streams.video[0]
        frames = [f for f in c.decode(s)]
        width = s.codec_context.width
        span = float((frames[-1].pts - frames[0].pts) * s.time_base) if frames else 0.0
    return len(frames), width, span, keys


@pytest.mark.parametrize("reader", ["ffmpeg", "native"])
def test_a_camera_remuxed_into_fragmented_mp4_reads_back_frame_for_frame(
    fleet: Fleet, tmp_path: Path, reader: str
) -> None:
    codec, sets, units = (_read if reader == "ffmpeg" else _read_native)(fleet, 6.0)
    path = tmp_path / "segment.mp4"
    with Fmp4Writer(path, codec, sets, 640, 360) as writer:
        for _, au in units:
            writer.write(au)
    info = writer.close()
    assert info.skipped == next(i for i, (_, au) in enumerate(units) if au.keyframe)
    assert info.frames == len(units) - info.skipped and info.keyframes >= 2
    frames, width, span, keys = _frames(path)
    assert frames == info.frames and width == 640  # every unit decodes, none lost
    assert keys[0] and sum(keys) == info.keyframes
    assert abs(span - info.duration_s) < 0.05  # the camera's own timing, kept
    assert 0.5 * 6.0 < span < 6.5
    head = path.read_bytes()[:64]
    assert b"ftyp" in head and b"moov" in path.read_bytes()[:4096]  # fragmented: moov first


def test_a_clip_from_the_rolling_buffer_covers_the_window_from_a_keyframe(fleet: Fleet) -> None:
    codec, sets, units = _read(fleet, 8.0)
    buf = ClipBuffer(seconds=30, max_bytes=64 * 1024 * 1024)
    for at, au in units:
        buf.add(au, at)
    t_end = units[-1][0] - 1.0
    t_start = t_end - 3.0
    clip = buf.clip(t_start, t_end)
    out = io.BytesIO()
    with Fmp4Writer(out, codec, sets) as writer:
        for au in clip:
            writer.write(au)
    info = writer.close()
    assert info.skipped == 0 and clip[0].keyframe  # starts where a player can start
    frames, _, span, keys = _frames(out.getvalue())
    assert frames == len(clip) and keys[0]
    assert span >= 3.0 - 0.1  # the whole window (and up to one GOP before it)
    assert span <= 3.0 + 2.1  # vtest's GOP is 2 s
