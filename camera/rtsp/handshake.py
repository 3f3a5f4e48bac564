"""Blocking RTSP set-up: DESCRIBE → SETUP (RTP over the RTSP TCP connection) → PLAY.

Runs on a connector thread with a deadline; the connected socket (an `ssl.SSLSocket` for
rtsps://, see `camera.rtsp.tls`) is then handed to whoever reads it: ingest's reader thread
that polls it with many others (`ingest.engine`), or the relay's event loop (`relay.upstream`).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from camera.rtsp.auth import Authorizer, parse_challenges
from camera.rtsp.errors import (
    RtspAuthError,
    RtspError,
    RtspIncompatibleError,
    RtspPlainBasicError,
    RtspProtocolError,
    RtspTransportRefusedError,
    redact_url,
)
from camera.rtsp.sdp import VideoTrack, parse_video_track
from camera.rtsp.tls import DEFAULT_PORT as RTSPS_PORT
from camera.rtsp.tls import TlsOptions, connect_tls

USER_AGENT = "Sharpeye/0.1"
MAX_HEADER = 64 * 1024


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else default


@dataclass
class PlayingSession:
    """A session in PLAY state, ready for the reader."""

    sock: socket.socket  # an ssl.SSLSocket for rtsps://
    url: str  # without credentials
    track: VideoTrack
    session_id: str
    timeout_s: float
    rtp_channel: int
    leftover: bytes  # interleaved data that arrived with the PLAY answer
    authorizer: Authorizer | None
    cseq: int


def parse_response_head(head: bytes) -> tuple[int, str, dict[str, list[str]]]:
    lines = head.decode("utf-8", "replace").split("\r\n")
    proto, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not proto.startswith("RTSP/") or not code.isdigit():
        raise RtspIncompatibleError(f"not an RTSP answer: {lines[0][:80]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(code), reason, headers


def strip_userinfo(url: str) -> tuple[str, str | None, str | None]:
    parts = urlsplit(url)
    clean = redact_url(url)
    return clean, parts.username, parts.password


class _Conn:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        self.cseq = 0

    def _recv(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the camera")
        self.buf += chunk

    def request(
        self, method: str, uri: str, headers: dict[str, str], auth: Authorizer | None
    ) -> Response:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if auth is not None and (value := auth.header(method, uri)) is not None:
            lines.append(f"Authorization: {value}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self.read_response()

    def read_response(self) -> Response:
        while True:
            # Interleaved RTP may precede the answer (PLAY on a live session): skip it.
            while self.buf.startswith(b"$"):
                if len(self.buf) < 4:
                    self._recv()
                    continue
                size = 4 + int.from_bytes(self.buf[2:4], "big")
                while len(self.buf) < size:
                    self._recv()
                self.buf = self.buf[size:]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_HEADER:
                raise RtspIncompatibleError("RTSP answer header too large")
            self._recv()
        status, reason, headers = parse_response_head(self.buf[:end])
        length = int((headers.get("content-length") or ["0"])[0] or 0)
        total = end + 4 + length
        while len(self.buf) < total:
            self._recv()
        body = self.buf[end + 4 : total]
        self.buf = self.buf[total:]
        return Response(status, reason, headers, body)


def open_session(
    url: str,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 5.0,
    tls: TlsOptions | None = None,
    allow_plain_basic: bool = False,
) -> PlayingSession:
    """Connect and start playing the video track over interleaved TCP (TLS for rtsps://,
    trusting what `tls` says; the system CA store by default).

    Credentials may come inline in the URL (some ONVIF devices return them) or apart;
    either way they never appear in errors or the returned URL. Basic authentication is
    used on rtsps:// and, on plain rtsp://, only with `allow_plain_basic`.
    """
    clean, url_user, url_password = strip_userinfo(url)
    username = username if username is not None else url_user
    password = password if password is not None else url_password
    parts = urlsplit(clean)
    scheme = parts.scheme.lower()
    if scheme not in ("rtsp", "rtsps"):
        raise RtspProtocolError(f"{clean}: not an rtsp:// or rtsps:// URL")
    host = parts.hostname or ""
    port = parts.port or (RTSPS_PORT if scheme == "rtsps" else 554)
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise RtspError(f"{clean}: cannot connect ({exc.strerror or exc})") from exc
    try:
        if scheme == "rtsps":
            sock = connect_tls(sock, host, port, tls or TlsOptions(), clean, deadline)
        allow_basic = scheme == "rtsps" or allow_plain_basic
        return _negotiate(_Conn(sock, deadline), clean, username, password, allow_basic)
    except TimeoutError as exc:
        sock.close()
        raise RtspError(f"{clean}: no answer within {timeout:.0f} s") from exc
    except (ConnectionError, OSError) as exc:
        sock.close()
        raise RtspError(f"{clean}: {exc}") from exc
    except RtspError:
        sock.close()
        raise
    except ValueError as exc:  # a header or SDP value our parser cannot read
        sock.close()
        raise RtspIncompatibleError(f"{clean}: cannot parse the camera's answer ({exc})") from exc


def _negotiate(
    conn: _Conn, url: str, username: str | None, password: str | None, allow_basic: bool
) -> PlayingSession:
    auth = Authorizer(username, password or "", allow_basic) if username is not None else None

    def call(method: str, uri: str, headers: dict[str, str]) -> Response:
        resp = conn.request(method, uri, headers, auth)
        if resp.status == 401:
            if auth is None:
                raise RtspAuthError(f"{url}: the camera requires credentials and none are set")
            if auth.ready and not _stale(resp):
                raise RtspAuthError(f"{url}: the camera refused the credentials (401)")
            offered = resp.headers.get("www-authenticate", [])
            if not auth.accept(offered):
                if only_basic(offered):
                    raise RtspPlainBasicError(url)
                raise RtspAuthError(f"{url}: no supported authentication scheme offered")
            resp = conn.request(method, uri, headers, auth)
            if resp.status == 401:
                raise RtspAuthError(f"{url}: the camera refused the credentials (401)")
        if resp.status == 461 and method == "SETUP":
            raise RtspTransportRefusedError(
                f"{url}: SETUP answered 461 {resp.reason}: the camera refuses RTP over TCP "
                "(it offers UDP only)"
            )
        if resp.status != 200:
            raise RtspProtocolError(f"{url}: {method} answered {resp.status} {resp.reason}")
        return resp

    desc = call("DESCRIBE", url, {"Accept": "application/sdp"})
    base = desc.header("content-base") or desc.header("content-location") or url
    track = parse_video_track(desc.body.decode("utf-8", "replace"), base)
    setup = call("SETUP", track.control_url, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
    session_value = setup.header("session")
    if not session_value:
        raise RtspIncompatibleError(f"{url}: SETUP answer has no Session header")
    session_id, _, params = session_value.partition(";")
    timeout_s = 60.0
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.lower() == "timeout" and v.isdigit():
            timeout_s = float(v)
    channel = 0
    for p in setup.header("transport").split(";"):
        k, _, v = p.strip().partition("=")
        if k == "interleaved":
            channel = int(v.split("-")[0])
    play_uri = base if base else url
    call("PLAY", play_uri, {"Session": session_id, "Range": "npt=0.000-"})
    leftover, conn.buf = conn.buf, b""
    conn.sock.settimeout(None)
    return PlayingSession(
        sock=conn.sock,
        url=url,
        track=track,
        session_id=session_id,
        timeout_s=timeout_s,
        rtp_channel=channel,
        leftover=leftover,
        authorizer=auth,
        cseq=conn.cseq,
    )


def only_basic(offered: list[str]) -> bool:
    """Does this WWW-Authenticate set offer Basic and nothing we prefer (Digest)?"""
    schemes = {c.scheme for c in parse_challenges(offered)}
    return "basic" in schemes and "digest" not in schemes


def refuse_plain_basic(
    url: str, username: str | None, allow_plain_basic: bool, timeout: float = 5.0
) -> None:
    """Before FFmpeg is given credentials for a plain rtsp:// camera: ask once without
    them and raise `RtspPlainBasicError` if the camera would take only Basic.

    FFmpeg's RTSP client picks Digest when offered but falls back to Basic without a
    setting to refuse it, so the policy the native client applies per request is checked
    here, one DESCRIBE ahead. What this cannot see: a path that offers Digest to this probe
    and Basic to FFmpeg's own connection a moment later (an active man in the middle); the
    native reader, used by default, has no such gap. Any other outcome (no answer, 404, no
    login needed) is left for FFmpeg to meet and explain as it does now.
    """
    clean, url_user, _ = strip_userinfo(url)
    parts = urlsplit(clean)
    if (username or url_user) is None or allow_plain_basic or parts.scheme.lower() != "rtsp":
        return
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((parts.hostname or "", parts.port or 554), timeout)
    except OSError:
        return
    try:
        resp = _Conn(sock, deadline).request("DESCRIBE", clean, {"Accept": "application/sdp"}, None)
    except (OSError, TimeoutError, ConnectionError, RtspError, ValueError):
        return
    finally:
        sock.close()
    if resp.status == 401 and only_basic(resp.headers.get("www-authenticate", [])):
        raise RtspPlainBasicError(clean)


def _stale(resp: Response) -> bool:
    return any("stale=true" in v.lower() for v in resp.headers.get("www-authenticate", []))


def session_request(session: PlayingSession, method: str) -> bytes:
    """A request on the playing session (authorised like the set-up was)."""
    session.cseq += 1
    lines = [
        f"{method} {session.url} RTSP/1.0",
        f"CSeq: {session.cseq}",
        f"User-Agent: {USER_AGENT}",
        f"Session: {session.session_id}",
    ]
    if session.authorizer and (h := session.authorizer.header(method, session.url)):
        lines.append(f"Authorization: {h}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def keepalive_request(session: PlayingSession) -> bytes:
    """GET_PARAMETER keeps the RTSP session alive (we send no RTCP receiver reports)."""
    return session_request(session, "GET_PARAMETER")


def teardown_request(session: PlayingSession) -> bytes:
    return session_request(session, "TEARDOWN")


__all__ = [
    "PlayingSession",
    "Response",
    "keepalive_request",
    "open_session",
    "teardown_request",
]
