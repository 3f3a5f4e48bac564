"""The PyAV (FFmpeg) fallback reader against real cameras: gst-rtsp-server paths that offer
RTP over UDP only (`/udp/...`, 461 to a TCP SETUP) or want Digest credentials."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from sharpeye.contracts.health import CameraState
from tests.fixtures_fleet import Fleet, free_port, stop_and_check
from tests.ingest.health_wait import wait_for

pytestmark = pytest.mark.integration

UDP = "/udp/vtest-360p/u"
SECURE = "/secure/vtest-360p/s"
PASSWORD = "pw-Pyav-Secret-93"


def _fleet(tmp: Any, paths: list[str], port: int | None = None) -> Fleet:
    port = port or free_port()
    registry = tmp / "registry.yaml"
    cams = [{"streams": {"main": f"rtsp://127.0.0.1:{port}{p}"}} for p in paths]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    env = {"SHARPEYE_SIM_RTSP_PASSWORD": PASSWORD}
    return Fleet(cameras=0, registry=registry, port=port, env=env)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    f = _fleet(tmp_path_factory.mktemp("pyav"), [UDP, SECURE]).start()
    yield f
    stop_and_check(f)


@pytest.fixture
def engine() -> Iterator[IngestEngine]:
    with IngestEngine(node_id="test", stall_s=2.0, backoff_max_s=2.0, connect_timeout_s=3.0) as e:
        yield e


def pyav_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ingest-pyav-") and t.is_alive()]


def test_udp_only_camera_in_auto_switches_to_pyav(fleet: Fleet, engine: IngestEngine) -> None:
    engine.add(StreamSpec("u-auto", fleet.url(UDP), sampling="keyframes"))
    h = wait_for(engine, "u-auto", lambda h: h.state == CameraState.ONLINE, 20)
    assert h.reader == "pyav" and h.codec == "h264" and h.last_error is None
    # The first rate window may include the frames FFmpeg buffered while probing.
    h = wait_for(engine, "u-auto", lambda h: h.frames_total >= 60 and 20 <= h.fps <= 30, 10)
    assert h.bitrate_kbps > 50
    h = wait_for(engine, "u-auto", lambda h: h.keyframe_interval_s is not None, 6)
    assert h.keyframe_interval_s is not None and 1.5 <= h.keyframe_interval_s <= 2.5
    assert h.last_frame_age_s is not None and h.last_frame_age_s < 1
    # Frames for analytics: keyframes, decoded once, through the same slot as native ones.
    frame = engine.wait_frame("u-auto", 0, timeout=5)
    assert frame is not None and frame.keyframe and frame.image.shape == (360, 640, 3)
    later = engine.wait_frame("u-auto", frame.seq, timeout=5)
    assert later is not None and later.pts_s > frame.pts_s
    assert wait_for(engine, "u-auto", lambda h: h.width == 640, 5).height == 360


def test_udp_only_camera_on_native_stays_offline_saying_why(
    fleet: Fleet, engine: IngestEngine
) -> None:
    engine.add(StreamSpec("u-native", fleet.url(UDP), reader="native"))
    h = wait_for(engine, "u-native", lambda h: h.last_error is not None, 10)
    time.sleep(2)  # retries keep failing the same way; it never switches
    h = engine.health()["u-native"]
    assert h.state == CameraState.OFFLINE and h.reader == "native" and h.frames_total == 0
    error = h.last_error or ""
    assert error.startswith("camera u-native: ")
    assert "461" in error and "UDP only" in error and "reader: pyav" in error


def test_digest_camera_through_pyav_never_shows_the_password(
    fleet: Fleet, engine: IngestEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine.add(
        StreamSpec(
            "s-pyav",
            fleet.url(SECURE),
            username=fleet.user,
            password=fleet.password,
            reader="pyav",
            transport="udp",
            sampling="fps",
            fps=2.0,
        )
    )
    wrong = PASSWORD + "-wrong"
    engine.add(StreamSpec("s-wrong", fleet.url(SECURE), fleet.user, wrong, reader="pyav"))
    h = wait_for(engine, "s-pyav", lambda h: h.state == CameraState.ONLINE, 20)
    assert h.reader == "pyav"
    assert engine.wait_frame("s-pyav", 0, timeout=5) is not None
    bad = wait_for(engine, "s-wrong", lambda h: h.last_error is not None, 10)
    assert bad.state == CameraState.OFFLINE
    assert "refused the credentials (401)" in (bad.last_error or "")
    reports = "".join(h.model_dump_json() for h in engine.health().values())
    for secret in (PASSWORD, wrong):
        assert secret not in caplog.text and secret not in reports
    assert f"{fleet.user}:" not in caplog.text + reports


def test_stop_ends_pyav_threads_promptly(fleet: Fleet) -> None:
    # A server that accepts and never answers: FFmpeg blocks in its DESCRIBE.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    engine = IngestEngine(node_id="test", stall_s=2.0, connect_timeout_s=3.0)
    engine.start()
    try:
        engine.add(StreamSpec("play", fleet.url(UDP), reader="pyav"))
        engine.add(StreamSpec("gone", fleet.url(UDP), reader="pyav"))
        port = mute.getsockname()[1]
        engine.add(StreamSpec("mute", f"rtsp://127.0.0.1:{port}/x", reader="pyav"))
        wait_for(engine, "play", lambda h: h.state == CameraState.ONLINE, 20)
        wait_for(engine, "gone", lambda h: h.state == CameraState.ONLINE, 20)
        assert len(pyav_threads()) == 3
        engine.remove("gone")
        deadline = time.monotonic() + 2
        while "ingest-pyav-gone" in {t.name for t in pyav_threads()}:
            assert time.monotonic() < deadline, "removing a camera left its thread running"
            time.sleep(0.05)
    finally:
        t0 = time.monotonic()
        engine.stop()
        took = time.monotonic() - t0
        mute.close()
    assert not pyav_threads() and took < 4, f"stop took {took:.1f} s"


def test_killed_then_restarted_udp_camera_comes_back(
    tmp_path: Any, footage: Any, engine: IngestEngine
) -> None:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    fleet = _fleet(tmp_path, [UDP]).start()
    try:
        engine.add(StreamSpec("u-back", fleet.url(UDP)))
        wait_for(engine, "u-back", lambda h: h.state == CameraState.ONLINE, 20)
        fleet.kill()
        down = wait_for(engine, "u-back", lambda h: h.state == CameraState.OFFLINE, 15)
        assert down.reader == "pyav" and down.last_error and "pyav reader" in down.last_error
        fleet.start()
        up = wait_for(engine, "u-back", lambda h: h.state == CameraState.ONLINE, 30)
        assert up.reader == "pyav" and up.reconnects >= 1 and up.last_error is None
    finally:
        stop_and_check(fleet)
