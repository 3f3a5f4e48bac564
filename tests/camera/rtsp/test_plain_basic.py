"""RTSP Basic sends the password in clear text: on plain rtsp:// it is refused unless the
camera's registry entry allows it, by the native client (per request) and, one DESCRIBE
ahead, before FFmpeg is given the password. Against the real gst-rtsp-server fleet, once
offering Basic only (an old camera) and once Basic and Digest (most cameras)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from camera.rtsp.errors import RtspAuthError, RtspPlainBasicError
from camera.rtsp.handshake import open_session, refuse_plain_basic
from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from sharpeye.contracts.health import CameraState
from sharpeye.registry.schema import CredentialRef
from tests.fixtures_fleet import Fleet, free_port, stop_and_check
from tests.ingest.health_wait import wait_for

pytestmark = pytest.mark.integration
SECURE = "/secure/vtest-360p/s"


def _fleet(tmp: Path, auth: str) -> Fleet:
    port = free_port()
    registry = tmp / "registry.yaml"
    cams = [{"streams": {"main": f"rtsp://127.0.0.1:{port}{SECURE}"}}]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    return Fleet(cameras=0, registry=registry, port=port, env={"SHARPEYE_SIM_RTSP_AUTH": auth})


@pytest.fixture(scope="module")
def basic_only(tmp_path_factory: pytest.TempPathFactory, footage: object) -> Iterator[Fleet]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    fleet = _fleet(tmp_path_factory.mktemp("basic"), "basic").start()
    yield fleet
    stop_and_check(fleet)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, footage: object) -> Iterator[Fleet]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    fleet = _fleet(tmp_path_factory.mktemp("both"), "").start()
    yield fleet
    stop_and_check(fleet)


def _sniffing_proxy(port: int) -> tuple[int, list[bytes], Callable[[], None]]:
    """A TCP relay to the fleet that keeps what the client sent: the wire a sniffer sees."""
    srv = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    stop = threading.Event()

    def pipe(a: socket.socket, b: socket.socket, keep: bool) -> None:
        try:
            while chunk := a.recv(65536):
                if keep:
                    seen.append(chunk)
                b.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (a, b):
                s.close()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by the test
                return
            upstream = socket.create_connection(("127.0.0.1", port))
            threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, False), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def close() -> None:
        stop.set()
        srv.close()

    return srv.getsockname()[1], seen, close


def test_basic_only_camera_gets_no_password_on_plain_rtsp(basic_only: Fleet) -> None:
    port, seen, close = _sniffing_proxy(basic_only.port)
    url = f"rtsp://127.0.0.1:{port}{SECURE}"
    try:
        with pytest.raises(RtspPlainBasicError) as err:
            open_session(url, basic_only.user, basic_only.password, timeout=10)
    finally:
        close()
    assert "allow_basic_on_plain_rtsp" in str(err.value)
    assert basic_only.password not in str(err.value)
    wire = b"".join(seen)
    assert b"DESCRIBE" in wire and b"Authorization" not in wire


def test_basic_only_camera_plays_where_the_registry_allows_it(basic_only: Fleet) -> None:
    url = basic_only.url(SECURE)
    session = open_session(
        url, basic_only.user, basic_only.password, timeout=10, allow_plain_basic=True
    )
    session.sock.close()
    assert session.track.codec == "h264"


def test_probe_before_ffmpeg_refuses_basic_only(basic_only: Fleet) -> None:
    url = basic_only.url(SECURE)
    with pytest.raises(RtspPlainBasicError):
        refuse_plain_basic(url, basic_only.user, allow_plain_basic=False)
    refuse_plain_basic(url, basic_only.user, allow_plain_basic=True)  # allowed: no error
    refuse_plain_basic(url, None, allow_plain_basic=False)  # no password to protect


def test_digest_camera_still_plays_with_the_default(both: Fleet) -> None:
    url = both.url(SECURE)
    refuse_plain_basic(url, both.user, allow_plain_basic=False)
    session = open_session(url, both.user, both.password, timeout=10)
    session.sock.close()
    assert session.authorizer is not None
    assert session.authorizer.header("OPTIONS", url).startswith("Digest ")  # type: ignore[union-attr]


def test_wrong_password_is_still_a_refusal_not_a_policy_error(basic_only: Fleet) -> None:
    with pytest.raises(RtspAuthError) as err:
        open_session(
            basic_only.url(SECURE), basic_only.user, "wrong", timeout=10, allow_plain_basic=True
        )
    assert not isinstance(err.value, RtspPlainBasicError)


@pytest.mark.parametrize("reader", ["native", "pyav"])
def test_ingest_explains_the_refusal_in_health(basic_only: Fleet, reader: str) -> None:
    """Both readers: the camera stays offline with the reason an operator can act on, and
    the password never left (the pyav reader's FFmpeg is not started with it)."""
    with IngestEngine(node_id="t", stall_s=2.0, backoff_max_s=2.0, connect_timeout_s=3.0) as e:
        e.add(
            StreamSpec(
                "old-cam",
                basic_only.url(SECURE),
                basic_only.user,
                basic_only.password,
                reader=reader,  # type: ignore[arg-type]
            )
        )
        h = wait_for(
            e, "old-cam", lambda h: "allow_basic_on_plain_rtsp" in (h.last_error or ""), 20
        )
        assert h.state != CameraState.ONLINE
        assert basic_only.password not in (h.last_error or "")
        e.add(
            StreamSpec(
                "old-cam-allowed",
                basic_only.url(SECURE),
                basic_only.user,
                basic_only.password,
                reader=reader,  # type: ignore[arg-type]
                allow_plain_basic=True,
            )
        )
        wait_for(e, "old-cam-allowed", lambda h: h.state == CameraState.ONLINE, 20)


def test_registry_flag_defaults_to_refusing() -> None:
    ref = CredentialRef(username="admin", password_env="CAM_PASS")
    assert ref.allow_basic_on_plain_rtsp is False
    allowed = CredentialRef(username="a", password_env="P", allow_basic_on_plain_rtsp=True)
    assert allowed.allow_basic_on_plain_rtsp
