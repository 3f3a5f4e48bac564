"""The ingest engine against the real simulated fleet (gst-rtsp-server serving real footage)."""

from __future__ import annotations

import itertools
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


PATHS = [
    "/sim/vtest-720p/k",
    "/sim/vtest-720p/d",
    "/sim/vtest-720p/good",
    "/sim/vtest-720p/ok",
    "/sim/vtest-360p/f",
    "/sim/corrupt-720p/bad",
    "/secure/vtest-360p/s",
    "/sim/frozen-720p/z",
    "/sim/vtest-720p/q",
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    """One fleet serving every path these tests read (mounted from a small registry)."""
    port = free_port()
    registry = tmp_path_factory.mktemp("fleet") / "registry.yaml"
    cams = [
        {"id": p.rsplit("/", 1)[1], "streams": {"main": f"rtsp://127.0.0.1:{port}{p}"}}
        for p in PATHS
    ]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    f = Fleet(cameras=0, registry=registry, port=port).start()
    yield f
    stop_and_check(f)


@pytest.fixture
def engine() -> Iterator[IngestEngine]:
    with IngestEngine(node_id="test", stall_s=2.0, backoff_max_s=2.0) as e:
        yield e


def test_keyframe_mode_decodes_keyframes_and_nothing_else(
    fleet: Fleet, engine: IngestEngine
) -> None:
    engine.add(StreamSpec("k", fleet.url("/sim/vtest-720p/k"), sampling="keyframes"))
    engine.add(StreamSpec("d", fleet.url("/sim/vtest-720p/d"), sampling="off"))
    wait_for(engine, "k", lambda h: h.frames_total >= 160, 20)
    frames = []
    seq = 0
    while (f := engine.wait_frame("k", seq, timeout=0.1)) is not None:
        frames.append(f)
        seq = f.seq
    h = engine.health()["k"]
    assert h.state == CameraState.ONLINE
    assert h.codec == "h264" and (h.width, h.height) == (1280, 720)
    assert h.keyframe_interval_s == pytest.approx(2.0, abs=0.05)  # GOP 50 at 25 fps
    # ~6 s of stream carry 3 keyframes: decoded are keyframes only, never the other frames.
    assert 1 <= h.frames_decoded <= h.frames_total // 50 + 1
    assert all(f.keyframe for f in frames)
    assert frames[-1].image.shape == (720, 1280, 3)
    d = engine.health()["d"]
    assert d.frames_total > 100 and d.frames_decoded == 0 and d.bitrate_kbps > 100


def test_fps_mode_samples_at_the_asked_rate(fleet: Fleet, engine: IngestEngine) -> None:
    engine.add(StreamSpec("f", fleet.url("/sim/vtest-360p/f"), sampling="fps", fps=5))
    first = engine.wait_frame("f", 0, timeout=15)
    assert first is not None
    got = [first]
    while got[-1].pts_s - first.pts_s < 4.0:
        f = engine.wait_frame("f", got[-1].seq, timeout=5)
        assert f is not None
        got.append(f)
    # Stream time, not wall time: 5 fps means one frame per 0.2 s of video. Per sampled
    # frame (the slot numbers each): a loaded machine may wake this reader late and miss
    # one, which says nothing about the engine's rate.
    gaps = [(b.pts_s - a.pts_s) / (b.seq - a.seq) for a, b in itertools.pairwise(got)]
    assert (got[-1].pts_s - first.pts_s) / (got[-1].seq - first.seq) == pytest.approx(0.2, abs=0.02)
    # Every sample on time (within a frame: the fleet stamps frames as it sends them), bar the
    # odd one a saturated machine's decoder dropped to stay live (its backlog is cleared
    # rather than decoded late).
    late = [g for g in gaps if g > 0.2 + 0.06]
    assert len(late) <= max(1, len(gaps) // 10), gaps
    h = engine.health()["f"]
    assert h.frames_decoded >= h.frames_total - 50  # all frames decode (P-frames need refs)


def test_server_killed_goes_offline_then_back_online(fleet_factory: Any) -> None:
    fleet = fleet_factory(cameras=2)
    with IngestEngine(node_id="test", stall_s=2.0, backoff_max_s=1.0) as engine:
        engine.add(StreamSpec("a", fleet.url("/sim/vtest-720p/cam0001")))
        engine.add(StreamSpec("b", fleet.url("/sim/vtest-720p/cam0002")))
        wait_for(engine, "a", lambda h: h.state == CameraState.ONLINE, 20)
        fleet.kill()
        killed = time.monotonic()
        h = wait_for(engine, "a", lambda h: h.state == CameraState.OFFLINE, 5)
        assert time.monotonic() - killed < 5
        assert h.last_error
        fleet.restart()
        h = wait_for(engine, "a", lambda h: h.state == CameraState.ONLINE, 30)
        assert h.reconnects >= 1
        wait_for(engine, "b", lambda h: h.state == CameraState.ONLINE and h.reconnects >= 1, 30)


def _bad_rtsp_server(behaviour: str) -> tuple[int, threading.Thread]:
    """A peer that negotiates properly, then sends a truncated or corrupted stream."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    sdp = b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"

    def answer(conn: socket.socket, cseq: bytes, extra: bytes = b"", body: bytes = b"") -> None:
        conn.sendall(
            b"RTSP/1.0 200 OK\r\nCSeq: "
            + cseq
            + b"\r\n"
            + extra
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    def serve() -> None:
        srv.settimeout(20)
        while True:
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                return
            with conn:
                buf = b""
                while b"PLAY" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                    while b"\r\n\r\n" in buf:
                        req, _, buf_rest = buf.partition(b"\r\n\r\n")
                        cseq = req.split(b"CSeq: ")[1].split(b"\r\n")[0]
                        if req.startswith(b"DESCRIBE"):
                            answer(conn, cseq, b"Content-Type: application/sdp\r\n", sdp)
                        elif req.startswith(b"SETUP"):
                            answer(
                                conn,
                                cseq,
                                b"Session: 1;timeout=60\r\n"
                                b"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
                            )
                        elif req.startswith(b"PLAY"):
                            answer(conn, cseq, b"Session: 1\r\n")
                            buf = b"PLAY"
                            break
                        buf = buf_rest
                if behaviour == "truncated":
                    conn.sendall(b"$\x00\x05\xdc" + b"\x80\x60" + b"\x00" * 100)  # cut mid-packet
                else:
                    conn.sendall(bytes(range(256)) * 400)  # no interleaved framing at all
                time.sleep(0.5)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return port, t


@pytest.mark.parametrize("behaviour", ["truncated", "corrupted"])
def test_broken_stream_leaves_other_cameras_running(
    fleet: Fleet, engine: IngestEngine, behaviour: str
) -> None:
    port, _ = _bad_rtsp_server(behaviour)
    engine.add(StreamSpec("good", fleet.url("/sim/vtest-720p/good"), sampling="keyframes"))
    engine.add(StreamSpec("bad", f"rtsp://127.0.0.1:{port}/broken", sampling="keyframes"))
    wait_for(engine, "good", lambda h: h.state == CameraState.ONLINE, 20)
    bad = wait_for(
        engine, "bad", lambda h: h.state == CameraState.OFFLINE and h.reconnects >= 1, 15
    )
    assert bad.last_error
    good = wait_for(engine, "good", lambda h: h.frames_total > 50, 10)
    assert good.state == CameraState.ONLINE and good.decode_errors == 0
    assert engine.health()["bad"].frames_total == 0


def test_damaged_bitstream_degrades_only_that_camera(fleet: Fleet, engine: IngestEngine) -> None:
    engine.add(StreamSpec("bad", fleet.url("/sim/corrupt-720p/bad"), sampling="fps", fps=5))
    engine.add(StreamSpec("ok", fleet.url("/sim/vtest-720p/ok"), sampling="fps", fps=5))
    bad = wait_for(engine, "bad", lambda h: h.decode_errors > 0, 30)
    assert bad.state == CameraState.DEGRADED
    ok = wait_for(engine, "ok", lambda h: h.frames_decoded > 10, 15)
    assert ok.state == CameraState.ONLINE and ok.decode_errors == 0 and ok.frames_decoded > 0


def test_credentials_are_used_and_never_shown(fleet: Fleet, engine: IngestEngine) -> None:
    url = fleet.url("/secure/vtest-360p/s")
    engine.add(StreamSpec("wrong", url, username=fleet.user, password="not-the-password"))
    engine.add(StreamSpec("right", url, username=fleet.user, password=fleet.password))
    right = wait_for(engine, "right", lambda h: h.state == CameraState.ONLINE, 20)
    wrong = wait_for(engine, "wrong", lambda h: h.last_error is not None, 20)
    assert wrong.state == CameraState.OFFLINE
    assert "credentials" in (wrong.last_error or "")
    for h in (right, wrong):
        assert "not-the-password" not in h.model_dump_json()
        assert fleet.password not in h.model_dump_json()


def test_picture_diagnosis_finds_a_frozen_camera_without_analytics(fleet: Fleet) -> None:
    with IngestEngine(node_id="test", diagnose_every_s=0.5) as engine:
        engine.add(StreamSpec("frozen", fleet.url("/sim/frozen-720p/z")))  # sampling off
        engine.add(StreamSpec("fine", fleet.url("/sim/vtest-720p/q")))
        frozen = wait_for(engine, "frozen", lambda h: "frozen" in h.quality_issues, 30)
        assert frozen.state == CameraState.DEGRADED
        assert frozen.fps > 20  # the stream itself is perfectly healthy
        fine = wait_for(engine, "fine", lambda h: h.brightness is not None, 30)
        assert fine.quality_issues == [] and fine.state == CameraState.ONLINE
        assert fine.frames_decoded == 0  # diagnosis decodes apart from analytics sampling
