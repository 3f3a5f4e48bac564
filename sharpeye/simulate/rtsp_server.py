"""The simulated fleet's RTSP server: GStreamer's gst-rtsp-server serving looped real footage.

Cost model (see REFERENCE.md, "RTSP camera peer"): one `ffmpeg -re -stream_loop -1 ... -c:v copy
-f rtp` publisher per clip sends RTP to loopback UDP; the server runs one shared media pipeline
per (clip, access) pair, depayloading and re-payloading that feed, and every mount path of that
clip is served from it. So hundreds of cameras cost about as much as a handful of clips.

Needs Debian's gi (python3-gi, gir1.2-gst-rtsp-server-1.0); this module is excluded from mypy.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

from sharpeye.backoff import Backoff  # noqa: E402

RTP_CAPS = "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000"
ROLE_USER = "user"
ROLE_ANONYMOUS = "anonymous"
PR_SET_PDEATHSIG = 1
# `basic`: the /secure paths offer Basic authentication only (default: Basic and Digest).
AUTH_ENV = "SHARPEYE_SIM_RTSP_AUTH"
# Keyframes of a 4 Mb/s 1080p clip arrive as a burst of a few hundred packets: the default
# 208 KiB socket buffer can drop some, which shows up downstream as decode errors.
UDP_RCVBUF = 4 * 1024 * 1024
# Each media needs its publisher up and a first keyframe (2 s GOP): seconds, not tens.
READY_TIMEOUT_S = 30.0
# A publisher that keeps dying quickly (a broken clip) is retried less and less often.
RESTART_BACKOFF = Backoff(base_s=1.0, max_s=30.0)


def log(msg: str) -> None:
    print(f"sim-rtsp: {msg}", file=sys.stderr, flush=True)


def _die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when this (forking) thread dies, even on SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    prctl = libc.prctl  # looked up before fork: the child runs as little Python as possible
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _udp_socket() -> tuple[Gio.Socket, int]:
    """A loopback UDP socket bound now, so the port cannot be taken between choice and use."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, UDP_RCVBUF)  # SO_RCVBUFFORCE: root may exceed rmem_max
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    return Gio.Socket.new_from_fd(s.detach()), port


class ClipFactory(GstRtspServer.RTSPMediaFactory):
    """Serves one clip's RTP feed; every mount path using this factory shares one pipeline."""

    def __init__(self, key: str, sock: Gio.Socket) -> None:
        super().__init__()
        self._key = key
        self._socket = sock
        self.set_shared(True)

    def do_gen_key(self, url: GstRtsp.RTSPUrl) -> str:
        # The default key is the URL; a constant makes all paths share the media.
        return self._key

    def do_create_element(self, url: GstRtsp.RTSPUrl) -> Gst.Element:
        # close-socket=false: the socket outlives each media so the port never changes.
        bin_ = Gst.parse_launch(
            f'( udpsrc name=src close-socket=false caps="{RTP_CAPS}" ! rtph264depay '
            "! h264parse ! rtph264pay config-interval=1 name=pay0 pt=96 )"
        )
        bin_.get_by_name("src").set_property("socket", self._socket)
        return bin_


class Keeper:
    """An in-process viewer (rtspsrc ! fakesink over TCP) that keeps one shared media playing.

    gst-rtsp-server pauses a shared media when its last viewer leaves and unprepares it when
    the last session goes. A paused udpsrc stops reading its socket; the kernel then keeps the
    oldest packets and the next viewer gets a burst of stale video with squashed timestamps,
    and a rebuilt media makes the next DESCRIBE wait for a keyframe. One permanent viewer per
    media keeps it live like a real camera, for the price of one loopback TCP stream.
    """

    def __init__(
        self, url: str, user: str | None, password: str | None, protocols: str = "tcp"
    ) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.protocols = protocols  # udp for a UDP-only media: it refuses TCP
        self.ready = threading.Event()
        self.pipeline: Gst.Element | None = None
        self.stopping = False

    def start(self) -> bool:
        pipeline = Gst.parse_launch(
            f"rtspsrc name=src protocols={self.protocols} latency=0 "
            "! fakesink name=sink sync=false async=false"
        )
        src = pipeline.get_by_name("src")
        src.set_property("location", self.url)
        if self.user is not None:
            src.set_property("user-id", self.user)
            src.set_property("user-pw", self.password)
        sink_pad = pipeline.get_by_name("sink").get_static_pad("sink")
        sink_pad.add_probe(Gst.PadProbeType.BUFFER, self._first_buffer)
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_failure)
        bus.connect("message::eos", self._on_failure)
        self.pipeline = pipeline
        pipeline.set_state(Gst.State.PLAYING)
        return False  # also used as a one-shot GLib timeout

    def _first_buffer(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        self.ready.set()
        return Gst.PadProbeReturn.REMOVE

    def _on_failure(self, bus: Gst.Bus, message: Gst.Message) -> None:
        if self.stopping:
            return
        detail = (
            message.parse_error()[0].message if message.type == Gst.MessageType.ERROR else "EOS"
        )
        log(f"keeper for {self.url} failed ({detail}); restarting in 1 s")
        self.stop()
        self.stopping = False
        GLib.timeout_add_seconds(1, self.start)

    def stop(self) -> None:
        self.stopping = True
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            pipeline.get_bus().remove_signal_watch()
            pipeline.set_state(Gst.State.NULL)


@dataclass
class Publisher:
    """`ffmpeg -re -stream_loop -1 -c:v copy -f rtp`: the clip, looped in real time, as RTP."""

    clip: str
    path: Path
    ports: list[int]
    proc: subprocess.Popen[bytes] | None = None
    failures: int = 0  # consecutive quick exits, for the restart backoff
    started_at: float = 0.0
    died_at: float | None = None
    retry_at: float = 0.0

    def command(self) -> list[str]:
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
        cmd += ["-stream_loop", "-1", "-i", str(self.path)]
        for port in self.ports:  # one process feeds every variant (open, secure) of the clip
            cmd += ["-map", "0:v:0", "-an", "-c:v", "copy", "-f", "rtp"]
            cmd += [f"rtp://127.0.0.1:{port}?pkt_size=1400"]
        return cmd

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the SDP ffmpeg prints is not needed
            preexec_fn=_die_with_parent(),
        )
        self.started_at, self.died_at = time.monotonic(), None

    def stop(self, grace: float = 3.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Mount:
    path: str  # /sim/<name>/<id> (open), /secure/<name>/<id> (credentials), /udp/<name>/<id>
    clip: str  # the clip served there (the fleet resolves aliases such as <clip>-360p)

    @property
    def secure(self) -> bool:
        return self.path.startswith("/secure/")

    @property
    def udp_only(self) -> bool:
        """Offers RTP over UDP only, answering 461 to a TCP SETUP, as some firmwares do."""
        return self.path.startswith("/udp/")

    @property
    def variant(self) -> tuple[str, bool, bool]:
        """Paths of one variant share one media (and one publisher port)."""
        return (self.clip, self.secure, self.udp_only)


class FleetAuth(GstRtspServer.RTSPAuth):
    """Answers 401 with a challenge for /secure paths, as a real camera does.

    The stock behaviour with a default (anonymous) token is to answer 404 for a factory the
    anonymous role may not access, so clients never learn that credentials would help.
    """

    def do_authenticate(self, ctx: GstRtspServer.RTSPContext) -> bool:
        if not GstRtspServer.RTSPAuth.do_authenticate(self, ctx):
            return False
        uri = ctx.uri
        if uri is None or not (uri.abspath or "").startswith("/secure/"):
            return True
        # Missing or wrong credentials leave the default token: refuse, so a 401 goes out.
        token = ctx.token
        return token is not None and token.get_string("media.factory.role") == ROLE_USER


def _permissions(*roles: str) -> GstRtspServer.RTSPPermissions:
    perms = GstRtspServer.RTSPPermissions.new()
    for role in roles:
        perms.add_permission_for_role(role, "media.factory.access", True)
        perms.add_permission_for_role(role, "media.factory.construct", True)
    return perms


def _token(role: str) -> GstRtspServer.RTSPToken:
    token = GstRtspServer.RTSPToken.new()
    token.set_string("media.factory.role", role)
    return token


def _offer_basic_and_digest(auth: GstRtspServer.RTSPAuth) -> None:
    """Offer both schemes, as many cameras do; the default offers Basic only.

    The C API takes a bit mask but its GI type is a plain enum, so PyGObject refuses
    BASIC | DIGEST: call the C function directly. Fall back to Digest, what cameras mostly use.
    """
    both = int(GstRtsp.RTSPAuthMethod.BASIC) | int(GstRtsp.RTSPAuthMethod.DIGEST)
    try:
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype = ctypes.c_void_p
        get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        lib = ctypes.CDLL("libgstrtspserver-1.0.so.0")
        lib.gst_rtsp_auth_set_supported_methods.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.gst_rtsp_auth_get_supported_methods.argtypes = [ctypes.c_void_p]
        pointer = get_pointer(auth.__gpointer__, None)
        lib.gst_rtsp_auth_set_supported_methods(pointer, both)
        if lib.gst_rtsp_auth_get_supported_methods(pointer) == both:
            return
    except (OSError, AttributeError, ValueError) as exc:
        log(f"cannot offer Basic and Digest together ({exc}); offering Digest only")
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)


def _auth(user: str, password: str) -> FleetAuth:
    auth = FleetAuth()
    # Requests without credentials get the anonymous role: /sim paths allow it, /secure not.
    auth.set_default_token(_token(ROLE_ANONYMOUS))
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), _token(ROLE_USER))
    if os.environ.get(AUTH_ENV, "").lower() == "basic":
        # An old camera that knows only Basic (gst-rtsp-server's default): the client must
        # refuse to send its password in clear unless the registry allows it.
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        return auth
    auth.add_digest(user, password, _token(ROLE_USER))
    _offer_basic_and_digest(auth)
    return auth


@dataclass(frozen=True)
class TlsListener:
    """Serve the fleet over RTSPS too: on `port`, with this PEM certificate (chain) and key."""

    port: int
    cert: Path
    key: Path

    def certificate(self) -> Gio.TlsCertificate:
        # One PEM holding the chain then the key is what Gio parses most reliably.
        pem = self.cert.read_text() + "\n" + self.key.read_text()
        return Gio.TlsCertificate.new_from_pem(pem, -1)


class FleetServer:
    """An RTSP server on 127.0.0.1:port serving `mounts` (path -> clip) from `clips` (files)."""

    def __init__(
        self,
        port: int,
        mounts: Mapping[str, str],
        clips: Mapping[str, Path],
        user: str,
        password: str,
        tls: TlsListener | None = None,
    ) -> None:
        Gst.init(None)
        self.port = port
        self.tls = tls
        self.mounts = [Mount(path, clip) for path, clip in mounts.items()]
        unknown = sorted({m.clip for m in self.mounts} - set(clips))
        if unknown:
            raise ValueError(f"unknown clips {unknown}; known: {sorted(clips)}")
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(port))
        # The default listen backlog of 5 drops SYNs when hundreds of clients connect at once.
        self.server.set_backlog(1024)
        # A pool thread per client (path, plus our keepers); fewer makes clients share
        # threads, which serialises DESCRIBEs so parallel opens time out.
        variants = {m.variant for m in self.mounts}
        self.server.get_thread_pool().set_max_threads(len(self.mounts) + len(variants) + 4)
        self.server.set_auth(_auth(user, password))
        self.tls_server = self._tls_server(tls, user, password) if tls is not None else None
        self.factories: dict[tuple[str, bool, bool], ClipFactory] = {}
        self.publishers: dict[str, Publisher] = {}
        points = self.server.get_mount_points()
        for m in self.mounts:
            variant = m.variant
            if variant not in self.factories:
                sock, udp_port = _udp_socket()
                access = "secure" if m.secure else "udp" if m.udp_only else "open"
                factory = ClipFactory(f"{m.clip}:{access}", sock)
                roles = (ROLE_USER,) if m.secure else (ROLE_USER, ROLE_ANONYMOUS)
                factory.set_permissions(_permissions(*roles))
                if m.udp_only:
                    factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)
                self.factories[variant] = factory
                pub = self.publishers.setdefault(m.clip, Publisher(m.clip, clips[m.clip], []))
                pub.ports.append(udp_port)
            points.add_factory(m.path, self.factories[variant])
        first: dict[tuple[str, bool, bool], str] = {}  # one path per media, for its keeper
        for m in self.mounts:
            first.setdefault(m.variant, m.path)
        self.keepers = [
            Keeper(
                f"rtsp://127.0.0.1:{port}{path}",
                user if secure else None,
                password if secure else None,
                "udp" if udp_only else "tcp",
            )
            for (_, secure, udp_only), path in first.items()
        ]
        self.failure: str | None = None
        self._started = 0.0

    def _tls_server(self, tls: TlsListener, user: str, password: str) -> GstRtspServer.RTSPServer:
        """A second listener serving the same mount points (so the same media) over TLS.

        gst-rtsp-server's TLS certificate belongs to the server's auth, so one server is all
        TLS or all plain; cameras are served both ways from one process and one set of media.
        """
        server = GstRtspServer.RTSPServer()
        server.set_address("127.0.0.1")
        server.set_service(str(tls.port))
        server.set_backlog(1024)
        server.set_mount_points(self.server.get_mount_points())
        server.get_thread_pool().set_max_threads(len(self.mounts) + 4)
        auth = _auth(user, password)
        auth.set_tls_certificate(tls.certificate())
        server.set_auth(auth)
        return server

    def _watch_publishers(self) -> bool:
        """Restart publishers that died; one that keeps dying is retried less and less often."""
        now = time.monotonic()
        for pub in self.publishers.values():
            if pub.proc is None or pub.proc.poll() is None:
                continue
            if pub.died_at is None:
                pub.died_at = now
                quick = now - pub.started_at < 60
                pub.failures = pub.failures + 1 if quick else 1
                delay = RESTART_BACKOFF.delay_after(pub.failures)
                pub.retry_at = now + delay
                rc = pub.proc.returncode
                log(f"publisher for {pub.clip} exited ({rc}); retry in {delay:.0f} s")
            if now >= pub.retry_at:
                pub.start()
        return True  # keep the GLib timeout

    def _quit(self, signame: str) -> bool:
        log(f"{signame}: stopping")
        self.loop.quit()
        return False

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM; publishers are stopped on the way out."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, self._quit, sig.name)
        if self.server.attach(None) == 0:
            raise OSError(f"cannot listen on 127.0.0.1:{self.port} (port in use?)")
        if self.tls_server is not None and self.tls_server.attach(None) == 0:
            assert self.tls is not None
            raise OSError(f"cannot listen on 127.0.0.1:{self.tls.port} (port in use?)")
        try:
            for pub in self.publishers.values():
                pub.start()
            for keeper in self.keepers:
                keeper.start()
            self._started = time.monotonic()
            GLib.timeout_add(100, self._announce_when_live)
            GLib.timeout_add_seconds(1, self._watch_publishers)
            # Sessions of clients that vanished without TEARDOWN would otherwise linger.
            GLib.timeout_add_seconds(2, self._cleanup_sessions)
            self.loop.run()
        finally:
            for keeper in self.keepers:
                keeper.stop()
            for pub in self.publishers.values():
                pub.stop()
        if self.failure:
            raise RuntimeError(self.failure)

    def _announce_when_live(self) -> bool:
        """Print the ready line once every media delivers video (a keyframe within a GOP)."""
        waiting = [k.url for k in self.keepers if not k.ready.is_set()]
        if not waiting:
            where = f"rtsp://127.0.0.1:{self.port}"
            if self.tls is not None:
                where += f" and rtsps://127.0.0.1:{self.tls.port}"
            print(f"== fleet ready: {len(self.mounts)} cameras on {where}", flush=True)
            return False
        if time.monotonic() - self._started > READY_TIMEOUT_S:
            self.failure = f"no video after {READY_TIMEOUT_S:.0f} s from {', '.join(waiting)}"
            log(self.failure)
            self.loop.quit()
            return False
        return True

    def _cleanup_sessions(self) -> bool:
        self.server.get_session_pool().cleanup()
        if self.tls_server is not None:
            self.tls_server.get_session_pool().cleanup()
        return True
