"""The FFmpeg half of the camera reader (`camera.ffmpeg_source`) against real cameras:
gst-rtsp-server paths that offer RTP over UDP only or want Digest credentials, and a server
that accepts and never answers. Ingest and the relay run it on their own threads; their
integration tests cover what they build on it."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from camera.ffmpeg_source import FfmpegOpenError, FfmpegSource
from camera.rtsp.depacketize import AccessUnit
from camera.spec import StreamSpec
from tests.fixtures_fleet import Fleet, free_port, stop_and_check

pytestmark = pytest.mark.integration

UDP = "/udp/vtest-360p/u"
SECURE = "/secure/vtest-360p/s"
PASSWORD = "pw-Source-Secret-41"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    port = free_port()
    registry = tmp_path_factory.mktemp("source") / "registry.yaml"
    cams = [{"streams": {"main": f"rtsp://127.0.0.1:{port}{p}"}} for p in (UDP, SECURE)]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    env = {"SHARPEYE_SIM_RTSP_PASSWORD": PASSWORD}
    f = Fleet(cameras=0, registry=registry, port=port, env=env).start()
    yield f
    stop_and_check(f)


def _nal_types(au: AccessUnit) -> set[int]:
    return {n[0] & 0x1F for n in au.data.split(b"\x00\x00\x01") if n.strip(b"\x00")}


def test_units_are_whole_annex_b_access_units_on_the_90khz_clock(fleet: Fleet) -> None:
    source = FfmpegSource(StreamSpec("u", fleet.url(UDP)), "test", 5.0, 3.0)
    opened = source.open()
    try:
        assert opened.codec == "h264"
        assert {p[0] & 0x1F for p in opened.parameter_sets} >= {7, 8}  # SPS and PPS, from SDP
        units: list[AccessUnit] = []
        deadline = time.monotonic() + 20
        for au in source.units(lambda: time.monotonic() > deadline):
            if au is not None:
                units.append(au)
            if sum(u.keyframe for u in units) >= 2 and len(units) >= 30:
                break
    finally:
        source.close()
    assert units, "no access unit within 20 s"
    assert all(u.data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")) for u in units)
    keys = [u for u in units if u.keyframe]
    assert len(keys) >= 2 and all(5 in _nal_types(k) for k in keys)  # IDR slices
    assert all(5 not in _nal_types(u) for u in units if not u.keyframe)
    # One picture per unit: consecutive timestamps a frame period apart on the RTP clock.
    steps = [(b.rtp_timestamp - a.rtp_timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(units)]
    assert sorted(steps)[len(steps) // 2] in range(2_000, 7_000)  # 12.5–45 fps
    assert source.frames_total == len(units) and source.keyframes_total == len(keys)
    assert source.bytes_total == sum(len(u.data) for u in units)
    assert source.keyframe_interval_s is not None and source.keyframe_interval_s > 0


def test_stopping_ends_the_units_within_a_read_slice(fleet: Fleet) -> None:
    source = FfmpegSource(StreamSpec("u", fleet.url(UDP)), "test", 5.0, 3.0)
    source.open()
    stop_at = time.monotonic() + 1.0
    try:
        for _ in source.units(lambda: time.monotonic() > stop_at):
            pass
        late = time.monotonic() - stop_at
    finally:
        source.close()
    assert late < 1.0, f"stopped {late:.2f} s after asked"


def test_refused_credentials_are_named_without_the_secret(fleet: Fleet) -> None:
    wrong = PASSWORD + "-wrong"
    spec = StreamSpec("s", fleet.url(SECURE), fleet.user, wrong, allow_plain_basic=False)
    with pytest.raises(FfmpegOpenError) as err:
        FfmpegSource(spec, "test", 5.0, 3.0).open()
    text = str(err.value)
    assert "refused the credentials (401)" in text and wrong not in text
    assert fleet.user + ":" not in text


def test_a_server_that_never_answers_fails_the_open_in_its_timeout() -> None:
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    url = f"rtsp://127.0.0.1:{mute.getsockname()[1]}/x"
    t0 = time.monotonic()
    try:
        with pytest.raises(FfmpegOpenError, match="no answer within 2 s"):
            FfmpegSource(StreamSpec("m", url), "test", 2.0, 10.0).open()
    finally:
        mute.close()
    assert time.monotonic() - t0 < 4.0
