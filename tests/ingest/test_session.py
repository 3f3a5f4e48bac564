"""A camera session's health: ages never negative, a reason whenever it is not online, and a
camera whose report cannot be built never takes the engine's other reports with it."""

from __future__ import annotations

import logging
import time

import pytest

from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from ingest.session import Session
from sharpeye.backoff import Backoff
from sharpeye.contracts.health import CameraState
from tests.fixtures_fleet import free_port


def _session(camera_id: str = "cam") -> Session:
    return Session(StreamSpec(camera_id, f"rtsp://127.0.0.1:{free_port()}/x"), Backoff())


def test_a_frame_stamped_after_now_gives_age_zero_not_a_crash() -> None:
    sess = _session()
    now = time.monotonic()
    sess.ever_connected = True
    sess.last_frame_at = now + 0.008  # a reader thread stamped it while health was built
    h = sess.health("node", now)
    assert h.last_frame_age_s == 0.0


def test_rates_over_no_elapsed_time_stay_finite_and_non_negative() -> None:
    sess = _session()
    now = time.monotonic()
    for _ in range(3):
        sess.tick(now)  # the same instant again: no window, no division
    h = sess.health("node", now)
    assert h.fps == 0.0 and h.bitrate_kbps == 0.0


def test_offline_and_connecting_reports_say_why() -> None:
    sess = _session()
    now = time.monotonic()
    assert sess.health("node", now).reason == "connecting"
    sess.last_error = "rtsp://127.0.0.1:1/x: connection refused"
    offline = sess.health("node", now)
    assert offline.state == CameraState.OFFLINE and offline.reason == sess.last_error
    sess.ever_connected = True
    sess.last_error = None
    sess.last_frame_at = now - 8.2
    assert sess.health("node", now).reason == "no frame for 8 s"


def test_one_cameras_bad_health_is_reported_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens: both cameras stay offline, with reasons
    with IngestEngine(node_id="test", backoff_max_s=1.0) as engine:
        engine.add(StreamSpec("good", f"rtsp://127.0.0.1:{port}/a"))
        engine.add(StreamSpec("bad", f"rtsp://127.0.0.1:{port}/b"))
        engine._sessions["bad"].reconnects = -1  # a value the contract refuses
        with caplog.at_level(logging.ERROR, logger="ingest.engine"):
            reports = [engine.health() for _ in range(5)]
    for health in reports:
        assert set(health) == {"good", "bad"}
        assert health["bad"].state == CameraState.DEGRADED
        assert "health report failed" in (health["bad"].reason or "")
        assert health["good"].camera_id == "good"
    logged = [r for r in caplog.records if "bad" in r.getMessage()]
    assert len(logged) == 1


def test_pyav_reader_writes_the_reason_before_the_camera_shows_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CI once caught a health report between "stream retired" (state offline) and "reason
    # written": offline, last_error None. The reason must be in place before the retire.
    from ingest.pyav_reader import PyavReader

    engine = IngestEngine(node_id="test")
    sess = _session("gone")
    sess.ever_connected = True
    engine._sessions["gone"] = sess
    reader = PyavReader(engine, sess)
    seen: list[tuple[str | None, str | None]] = []
    retire = sess.retire_stream

    def retire_and_look() -> None:
        retire()
        h = sess.health("test", time.monotonic())
        seen.append((h.state.value, h.last_error))
        reader.stop()  # one failure is enough

    monkeypatch.setattr(sess, "retire_stream", retire_and_look)
    monkeypatch.setattr(reader, "_play_once", lambda: "the camera ended the stream")
    reader.run()
    assert seen == [("offline", "the camera ended the stream")]
