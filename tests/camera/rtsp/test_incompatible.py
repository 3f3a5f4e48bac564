"""Which set-up failures mean "this camera is not for our client" (the pyav fallback's cue):
a scripted RTSP peer on 127.0.0.1 answers each request with the next canned reply."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from camera.rtsp.errors import (
    RtspAuthError,
    RtspError,
    RtspIncompatibleError,
    RtspTransportRefusedError,
)
from camera.rtsp.handshake import open_session

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\na=control:stream=0\r\n"
)


def reply(status: str, headers: str = "", body: str = "") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"{status}\r\nCSeq: 1\r\n{headers}{length}\r\n{body}".encode()


DESCRIBED = reply("RTSP/1.0 200 OK", "Content-Type: application/sdp\r\n", SDP)


@pytest.fixture
def peer() -> Iterator[tuple[int, list[bytes]]]:
    """(port, replies): each request read gets the next reply."""
    srv = socket.create_server(("127.0.0.1", 0))
    replies: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            buf = b""
            while replies:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf.split(b"\r\n\r\n", 1)[1]
                conn.sendall(replies.pop(0))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], replies
    srv.close()
    t.join(timeout=2)


def _open(port: int) -> None:
    open_session(f"rtsp://127.0.0.1:{port}/live", timeout=2.0)


@pytest.mark.parametrize(
    ("replies", "kind", "text"),
    [
        ([b"HTTP/1.1 200 OK\r\n\r\n"], RtspIncompatibleError, "not an RTSP answer"),
        (
            [reply("RTSP/1.0 200 OK", "Content-Length: lots\r\n")],
            RtspIncompatibleError,
            "cannot parse the camera's answer",
        ),
        (
            [reply("RTSP/1.0 200 OK", body="v=0\r\nm=audio 0 RTP/AVP 0\r\n")],
            RtspIncompatibleError,
            "no video track",
        ),
        (
            [DESCRIBED, reply("RTSP/1.0 461 Unsupported Transport")],
            RtspTransportRefusedError,
            "SETUP answered 461 Unsupported Transport: the camera refuses RTP over TCP",
        ),
        ([DESCRIBED, reply("RTSP/1.0 200 OK")], RtspIncompatibleError, "no Session header"),
    ],
)
def test_camera_beyond_our_client(
    peer: tuple[int, list[bytes]], replies: list[bytes], kind: type[RtspError], text: str
) -> None:
    port, script = peer
    script.extend(replies)
    with pytest.raises(kind, match=text):
        _open(port)


@pytest.mark.parametrize(
    ("replies", "kind"),
    [
        ([reply("RTSP/1.0 404 Not Found")], RtspError),
        (
            [reply("RTSP/1.0 401 Unauthorized", 'WWW-Authenticate: Basic realm="x"\r\n')],
            RtspAuthError,
        ),
        ([DESCRIBED, reply("RTSP/1.0 500 Internal Server Error")], RtspError),
    ],
)
def test_ordinary_failures_are_not_incompatible(
    peer: tuple[int, list[bytes]], replies: list[bytes], kind: type[RtspError]
) -> None:
    port, script = peer
    script.extend(replies)
    with pytest.raises(kind) as caught:
        _open(port)
    assert not isinstance(caught.value, RtspIncompatibleError)


def test_refused_connection_is_not_incompatible() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        with pytest.raises(RtspError) as caught:
            _open(port)
    assert not isinstance(caught.value, RtspIncompatibleError)
