"""rtsps:// against real peers: the simulated fleet over TLS (gst-rtsp-server) and a Python
TLS server presenting odd certificates (expired, wrong host, self-signed)."""

from __future__ import annotations

import logging
import select
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from camera.rtsp.errors import RtspError
from camera.rtsp.handshake import open_session
from camera.rtsp.tls import (
    RtspTlsError,
    TlsOptions,
    client_context,
    read_available,
)
from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from sharpeye.contracts.health import CameraState
from sharpeye.registry.fingerprint import normalize_fingerprint
from tests.fixtures_fleet import Fleet, free_port, stop_and_check
from tests.fixtures_tls import Pki, TlsPeer, make_ca, make_pki, server_cert
from tests.ingest.test_engine import wait_for

OPEN = "/sim/vtest-360p/t"
SECURE = "/secure/vtest-360p/t"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any, pki: Pki) -> Iterator[Fleet]:
    """The same two cameras over rtsp:// and rtsps:// (certificate of the test CA)."""
    port, tls_port = free_port(), free_port()
    registry = tmp_path_factory.mktemp("fleet") / "registry.yaml"
    urls = [f"rtsps://127.0.0.1:{tls_port}{OPEN}", f"rtsps://127.0.0.1:{tls_port}{SECURE}"]
    registry.write_text(yaml.safe_dump({"cameras": [{"streams": {"main": u}} for u in urls]}))
    tls = (pki.server.cert, pki.server.key)
    f = Fleet(cameras=0, registry=registry, port=port, tls=tls, tls_port=tls_port).start()
    yield f
    stop_and_check(f)


@pytest.fixture
def engine() -> Iterator[IngestEngine]:
    with IngestEngine(node_id="test", stall_s=2.0, backoff_max_s=2.0) as e:
        yield e


def ca(issued_by: Path) -> TlsOptions:
    return TlsOptions(ca_file=str(issued_by))


@pytest.mark.integration
def test_engine_reads_frames_over_tls_and_a_wrong_ca_takes_only_that_camera_offline(
    fleet: Fleet, pki: Pki, engine: IngestEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ingest.engine")
    url = fleet.url(OPEN, tls=True)
    engine.add(StreamSpec("tls-ok", url, sampling="keyframes", tls=ca(pki.ca.cert)))
    engine.add(StreamSpec("tls-bad-ca", url, tls=ca(pki.other_ca.cert)))
    engine.add(StreamSpec("plain", fleet.url(OPEN)))
    ok = wait_for(engine, "tls-ok", lambda h: h.state == CameraState.ONLINE, 20)
    frame = engine.wait_frame("tls-ok", 0, timeout=10)
    assert frame is not None and frame.image.shape[0] == 360
    # Offline with the error between its retries (a retry shows `connecting` a moment: on a
    # loaded machine the first look could land on one).
    bad = wait_for(
        engine,
        "tls-bad-ca",
        lambda h: h.last_error is not None and h.state == CameraState.OFFLINE,
        20,
    )
    assert bad.last_error is not None
    assert "TLS certificate verification failed" in bad.last_error
    assert "unknown CA" in bad.last_error and str(pki.other_ca.cert) in bad.last_error
    assert any("camera tls-bad-ca:" in r.getMessage() for r in caplog.records)
    # Frames keep coming on the good TLS camera and the plain one while the other retries.
    time.sleep(1.5)
    health = engine.health()
    assert health["tls-ok"].state == CameraState.ONLINE
    assert health["tls-ok"].frames_total > ok.frames_total
    assert health["plain"].state == CameraState.ONLINE
    assert health["tls-bad-ca"].state in (CameraState.OFFLINE, CameraState.CONNECTING)
    assert health["tls-bad-ca"].frames_total == 0
    assert health["tls-ok"].decode_errors == 0


@pytest.mark.integration
def test_digest_credentials_over_tls(
    fleet: Fleet, pki: Pki, engine: IngestEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = fleet.url(SECURE, tls=True)
    session = open_session(url, fleet.user, fleet.password, 5.0, ca(pki.ca.cert))
    try:
        assert isinstance(session.sock, ssl.SSLSocket)
        assert session.authorizer is not None
        assert (session.authorizer.header("GET_PARAMETER", url) or "").startswith("Digest ")
    finally:
        session.sock.close()
    with pytest.raises(RtspError, match="refused the credentials"):
        open_session(url, fleet.user, "wrong-password", 5.0, ca(pki.ca.cert))
    spec = StreamSpec("vault", url, fleet.user, fleet.password, "keyframes", tls=ca(pki.ca.cert))
    engine.add(spec)
    assert engine.wait_frame("vault", 0, timeout=15) is not None
    assert all(fleet.password not in r.getMessage() for r in caplog.records)


@pytest.mark.integration
def test_pinned_fingerprint_is_accepted_and_another_pin_refused(fleet: Fleet, pki: Pki) -> None:
    url = fleet.url(OPEN, tls=True)
    # No CA at all: the pin alone vouches for the certificate (as for a self-signed camera).
    session = open_session(url, timeout=5.0, tls=TlsOptions(sha256=pki.server.sha256))
    session.sock.close()
    assert session.track.codec == "h264"
    other = "00:" * 31 + "00"
    with pytest.raises(RtspTlsError) as err:
        open_session(url, timeout=5.0, tls=TlsOptions(sha256=other))
    assert f"(SHA-256 {pki.server.sha256}) is not the pinned tls.sha256" in str(err.value)


@pytest.mark.integration
def test_plain_rtsp_server_given_an_rtsps_url(fleet: Fleet) -> None:
    url = f"rtsps://127.0.0.1:{fleet.port}{OPEN}"
    with pytest.raises(RtspTlsError) as err:
        open_session(url, timeout=5.0)
    assert str(err.value) == (
        f"{url}: the server speaks plain RTSP on port {fleet.port}, not RTSP over TLS: "
        "use rtsp:// or enable RTSPS on the camera"
    )


@pytest.mark.integration
def test_system_store_refuses_the_private_ca(fleet: Fleet) -> None:
    with pytest.raises(RtspTlsError, match=r"unknown CA: .* not trusted by the system CA store"):
        open_session(fleet.url(OPEN, tls=True), timeout=5.0)


# -- certificates a camera should not get away with (a Python TLS peer is enough) --------


def refusal(url: str, tls: TlsOptions | None) -> str:
    with pytest.raises(RtspTlsError) as err:
        open_session(url, "admin", "pa55-word", 5.0, tls)
    assert "pa55-word" not in str(err.value)
    return str(err.value)


def test_expired_certificate(tmp_path: Path, pki: Pki) -> None:
    expired = server_cert(tmp_path, "expired", pki.ca, expired=True)
    with TlsPeer(expired) as peer:
        url = f"rtsps://127.0.0.1:{peer.port}/cam"
        assert refusal(url, ca(pki.ca.cert)) == (
            f"{url}: TLS certificate verification failed: the certificate has expired "
            "(renew it on the camera, or check the clocks)"
        )


def test_host_name_mismatch(tmp_path: Path, pki: Pki) -> None:
    elsewhere = server_cert(tmp_path, "elsewhere", pki.ca, names=("camera-7.example",))
    with TlsPeer(elsewhere) as peer:
        url = f"rtsps://127.0.0.1:{peer.port}/cam"
        assert refusal(url, ca(pki.ca.cert)) == (
            f"{url}: TLS certificate verification failed: "
            "host name mismatch: the certificate is not valid for 127.0.0.1"
        )
        # `localhost` is not in it either.
        assert "not valid for localhost" in refusal(
            f"rtsps://localhost:{peer.port}/cam", ca(pki.ca.cert)
        )


def test_self_signed_certificate_says_how_to_accept_it(tmp_path: Path) -> None:
    own = server_cert(tmp_path, "own", None)
    with TlsPeer(own) as peer:
        message = refusal(f"rtsps://127.0.0.1:{peer.port}/cam", None)
    assert "the certificate is self-signed, not trusted by the system CA store" in message
    assert "pin it with tls.sha256" in message


def test_unusable_ca_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(RtspTlsError, match=f"CA file {missing}: No such file"):
        client_context(TlsOptions(ca_file=str(missing)))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(RtspTlsError, match=f"CA file {junk}: not a usable PEM bundle"):
        client_context(TlsOptions(ca_file=str(junk)))


def test_fingerprint_forms() -> None:
    hexed = "ab" * 32
    assert normalize_fingerprint(":".join(["AB"] * 32)) == hexed
    assert normalize_fingerprint(hexed.upper()) == hexed
    with pytest.raises(ValueError, match="32 bytes in hex"):
        normalize_fingerprint("AB:CD")
    with pytest.raises(ValueError, match="not both"):
        TlsOptions(ca_file="/ca.pem", sha256=hexed)


def test_non_blocking_reads_drain_what_poll_cannot_see(tmp_path: Path) -> None:
    """Bytes already decrypted inside the SSL object do not make the socket readable:
    `read_available` says so (`more`), and reading on without poll gets everything."""
    ca_ = make_ca(tmp_path, "ca")
    payload = bytes(range(256)) * 1024  # 256 KiB: many 16 KiB TLS records
    with TlsPeer(server_cert(tmp_path, "srv", ca_), payload) as peer:
        ctx = client_context(TlsOptions(ca_file=str(ca_.cert)))
        raw = socket.create_connection(("127.0.0.1", peer.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.setblocking(False)
            got = bytearray()
            saw_pending = False
            deadline = time.monotonic() + 10
            while len(got) < len(payload) and time.monotonic() < deadline:
                data, more = read_available(sock, 1000)  # less than one record
                if data is None:
                    assert not more
                    select.select([sock], [], [], 0.5)
                    continue
                assert data, "the peer holds the connection open"
                got += data
                if more:
                    saw_pending = True
                    # What poll() would say here is irrelevant: the bytes are already ours.
                    assert sock.pending() > 0
            assert bytes(got) == payload
            assert saw_pending
            # Nothing left: a read now would block, which is None, not an error.
            assert read_available(sock, 1000) == (None, False)
