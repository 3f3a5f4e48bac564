"""One RTSP pull per camera stream, shared by all its viewers, opened on demand.

The pull reuses camera/'s lean RTSP client (interleaved RTP over TCP, TLS for rtsps://, the
same depacketizer) on the relay's event loop: no decoding, one `bytes` per access unit,
offered to every subscriber's bounded queue. An upstream whose last viewer left closes after
`idle_close_s`; one whose camera drops reconnects with backoff while viewers are attached.

Cameras our client cannot read (UDP only, answers beyond our parser) are pulled through
FFmpeg instead (`relay.pyav_pull`), chosen as ingest chooses: the registry's
`ingest.reader` pyav, or auto after our client's `RtspIncompatibleError`. GB/T 28181
channels (`gb28181://`) are played through the GB service instead (`relay.gb_pull`: the
relay's own INVITE, PS over RTP demuxed). Every pull feeds the same `_on_access_unit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Literal

from camera.ffmpeg import can_fall_back, unreadable_hint
from camera.ffmpeg_source import FfmpegOpenError
from camera.gb28181.source import GbPlayError
from camera.rtsp.depacketize import AccessUnit, Assembler
from camera.rtsp.errors import RtspError, RtspIncompatibleError
from camera.rtsp.handshake import (
    PlayingSession,
    keepalive_request,
    open_session,
    teardown_request,
)
from camera.rtsp.stream import Stream
from relay.counters import RelayCounters
from relay.gb_pull import GbAccess, GbPull
from relay.gop import EncodedFrame, GopCache, squeeze, with_parameter_sets
from relay.pyav_pull import PyavPull
from relay.sources import SourceSpec
from relay.subscriber import Subscriber
from relay.thread_pull import stop_and_join
from relay.tls_pull import TlsTransport
from sharpeye.backoff import Backoff
from sharpeye.logs import Outage

RECONNECT_MAX_S = 2.0
log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
# No data for this long means the camera is gone even if TCP did not notice.
READ_TIMEOUT_S = 10.0
# How often the pull checks that timeout and its keep-alive.
WATCH_S = 1.0
# Keep PTS increasing across reconnects: the browser's decoder never sees time go back.
RECONNECT_PTS_GAP = 90000


class UpstreamError(Exception):
    """The camera could not be opened; the message is safe to show (no credentials)."""


class UnsupportedCodecError(UpstreamError):
    """The camera sends a codec browsers cannot play over WebRTC (H.265)."""


class Upstream:
    def __init__(
        self,
        spec: SourceSpec,
        idle_close_s: float,
        on_closed: Callable[[Upstream], None],
        open_timeout_s: float = OPEN_TIMEOUT_S,
        gop_cache: bool = True,
        counters: RelayCounters | None = None,
        gb: GbAccess | None = None,
    ) -> None:
        self.spec = spec
        self._gb = gb  # how gb28181:// cameras are played (None: this relay cannot)
        self.counters = counters or RelayCounters()
        self.idle_close_s = idle_close_s
        self._on_closed = on_closed
        self._open_timeout_s = open_timeout_s
        self.gop = GopCache()
        self.gop_cache = gop_cache
        self.subscribers: set[Subscriber] = set()
        self.codec: str | None = None
        self.error: UpstreamError | None = None
        self.users = 0  # WHEP sessions holding this upstream open
        self.opens = 0  # RTSP sessions opened so far (tests: reopen after idle)
        self.frames = 0
        self.keyframes = 0
        self.closed = False
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._pts = 0
        self._last_ts: int | None = None
        self._parameter_sets: list[bytes] = []
        # Which client pulls the camera: FFmpeg's when the registry says so, or (auto) once
        # ours met a camera it cannot read; a GB/T 28181 channel is played, not pulled.
        self.reader: Literal["native", "pyav", "gb28181"] = (
            spec.reader if spec.reader in ("pyav", "gb28181") else "native"
        )

    def __repr__(self) -> str:
        return f"Upstream({self.spec.camera_id}/{self.spec.stream}, users={self.users})"

    # -- lifetime ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"upstream-{self.spec.camera_id}-{self.spec.stream}"
            )

    async def ready(self) -> str:
        """Wait for the first open; the codec, or the UpstreamError that stopped it."""
        self.start()
        await self._opened.wait()
        if self.error is not None:
            raise self.error
        assert self.codec is not None
        return self.codec

    def acquire(self) -> None:
        self.users += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def release(self) -> None:
        self.users = max(0, self.users - 1)
        if self.users == 0 and not self.closed and self._idle is None:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.idle_close_s, self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle = None
        if self.users == 0:
            log.info("%s/%s: idle, closing upstream", self.spec.camera_id, self.spec.stream)
            asyncio.get_running_loop().create_task(self.close())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        for sub in list(self.subscribers):
            sub.close()
        self.subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.gop.clear()
        self._on_closed(self)

    # -- viewers ---------------------------------------------------------------------------

    def subscribe(self, capacity: int) -> Subscriber:
        """A queue primed with the cached GOP, re-timed so playback starts at once."""
        primed = squeeze(self.gop.snapshot()) if self.gop_cache else []
        sub = Subscriber(capacity, primed, self.counters)
        if self.closed:
            sub.close()
        else:
            self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        sub.close()

    # -- the pull --------------------------------------------------------------------------

    async def _run(self) -> None:
        # An upstream only lives while viewers watch it, so someone is looking at a black tile
        # while it retries: a camera back from a restart must play again within seconds
        # (the shift's figure is 5 s, keyframe wait included), and one connection attempt
        # every ≤ 2 s per lost camera that has viewers costs nothing worth saving.
        backoff = Backoff(base_s=0.5, max_s=RECONNECT_MAX_S)
        spec = self.spec
        # Retried every ≤ 2 s: without this a camera down for a night logs 18,000 lines.
        outage = Outage(log)
        while not self.closed:
            try:
                pull = await self._open()
            except (RtspError, FfmpegOpenError, GbPlayError) as exc:
                if isinstance(exc, RtspIncompatibleError) and can_fall_back(spec):
                    # Not a network or login problem: this camera is not for our client. Like
                    # ingest, read it through FFmpeg from now on (for this upstream's life).
                    log.warning("%s: %s; pulling it through FFmpeg (pyav)", spec.camera_id, exc)
                    self.reader = "pyav"
                    continue
                if not self._opened.is_set():
                    # The first open fails fast: the viewer gets an answer, not a hang.
                    self.error = UpstreamError(_explain(spec, exc))
                    self._opened.set()
                    self.closed = True
                    self._on_closed(self)
                    return
                delay = backoff.next_delay()
                outage.failed("%s: reopen failed: %s", spec.camera_id, exc)
                await asyncio.sleep(delay)
                continue
            outage.ended("%s/%s: upstream back", spec.camera_id, spec.stream)
            self.opens += 1
            self.counters.upstream_opens += 1
            if self.codec != "h264":
                if isinstance(pull, PlayingSession):
                    pull.sock.close()
                else:
                    await stop_and_join(pull, self._open_timeout_s)
                self.error = UnsupportedCodecError(
                    f"camera {spec.camera_id} ({spec.stream} stream) sends "
                    f"{'H.265' if self.codec == 'hevc' else self.codec}, which browsers cannot "
                    "play over WebRTC: configure this stream as H.264 on the camera"
                )
                self._opened.set()
                self.closed = True
                self._on_closed(self)
                return
            self._opened.set()
            try:
                if isinstance(pull, PlayingSession):
                    await self._pump(pull)
                else:
                    await self._pump_thread(pull)
                backoff.reset()
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("%s/%s: upstream lost: %s", spec.camera_id, spec.stream, exc)
            if not self.closed:
                self.counters.upstream_reconnects += 1
            # Reconnect: queued frames and the cache refer to the old session's decoder state.
            self.gop.clear()
            for sub in self.subscribers:
                sub.restart()
            self._last_ts = None
            self._pts += RECONNECT_PTS_GAP
            if not self.closed:
                await asyncio.sleep(backoff.next_delay())

    async def _open(self) -> PlayingSession | PyavPull | GbPull:
        """A playing camera, by the reader chosen; sets `codec` and the parameter sets."""
        spec = self.spec
        if self.reader != "native":
            loop = asyncio.get_running_loop()
            pull: PyavPull | GbPull
            if self.reader == "pyav":
                pull = PyavPull(
                    spec, loop, self._on_access_unit, self._open_timeout_s, READ_TIMEOUT_S
                )
            elif self._gb is None:
                raise GbPlayError("this relay has no way to the GB28181 service")
            else:
                pull = GbPull(
                    spec, self._gb, loop, self._on_access_unit, self._open_timeout_s, READ_TIMEOUT_S
                )
            pull.start()
            try:
                opened = await pull.opened
            except BaseException:
                await stop_and_join(pull, self._open_timeout_s)
                raise
            self.codec = opened.codec
            self._parameter_sets = list(opened.parameter_sets)
            return pull
        session = await asyncio.to_thread(
            open_session,
            spec.url,
            spec.username,
            spec.password,
            self._open_timeout_s,
            spec.tls,
            spec.allow_plain_basic,
        )
        self.codec = session.track.codec
        self._parameter_sets = list(session.track.parameter_sets)
        return session

    async def _pump_thread(self, pull: PyavPull | GbPull) -> None:
        """Frames flow from the pull's thread (FFmpeg's, GB's) to `_on_access_unit`; this
        only waits for the end (the thread watches the read timeout itself)."""
        try:
            reason = await pull.ended
        finally:
            await stop_and_join(pull, self._open_timeout_s)
        if reason is None or self.closed:
            return
        if isinstance(reason, OSError):  # ConnectionError, TimeoutError: _run reconnects
            raise reason
        raise ConnectionError(str(reason))

    async def _pump(self, session: PlayingSession) -> None:
        stream = Stream(session, Assembler("h264", self._on_access_unit, keyframes_only=False))
        if session.leftover:
            stream.feed(session.leftover, time.monotonic())
        loop = asyncio.get_running_loop()
        transport: asyncio.Transport
        if isinstance(session.sock, ssl.SSLSocket):  # rtsps://: TLS is up already
            pull = _Pull(stream, loop)
            transport = TlsTransport(loop, session.sock, pull)
        else:
            transport, pull = await loop.create_connection(
                lambda: _Pull(stream, loop), sock=session.sock
            )
        keepalive_every = max(5.0, session.timeout_s / 2)
        next_keepalive = time.monotonic() + keepalive_every
        try:
            while not self.closed:
                # Woken by the connection's end, else once a second for the timers: the
                # frames themselves go from data_received straight to the viewers.
                await asyncio.wait((pull.ended,), timeout=WATCH_S)
                if pull.ended.done():
                    raise pull.ended.result()
                now = time.monotonic()
                if now - stream.last_data_at > READ_TIMEOUT_S:
                    raise TimeoutError(f"no data from the camera for {READ_TIMEOUT_S:.0f} s")
                if now >= next_keepalive:
                    transport.write(keepalive_request(session))
                    next_keepalive = now + keepalive_every
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                transport.write(teardown_request(session))
            transport.close()

    def _on_access_unit(self, au: AccessUnit) -> None:
        ts = au.rtp_timestamp
        if self._last_ts is not None:
            delta = (ts - self._last_ts) & 0xFFFFFFFF
            if delta >= 0x80000000:  # backwards (a camera glitch): keep time moving on
                delta = 1
            self._pts += max(delta, 1)
        self._last_ts = ts
        data = au.data
        if au.keyframe:
            data = with_parameter_sets(data, self._parameter_sets)
        frame = EncodedFrame(data, au.keyframe, self._pts, time.monotonic(), ts)
        self.frames += 1
        self.counters.frames_in += 1
        self.keyframes += au.keyframe
        self.gop.add(frame)
        for sub in self.subscribers:
            sub.offer(frame)


def _explain(spec: SourceSpec, exc: Exception) -> str:
    """The error in full (for the relay's log; viewers get `sharpeye.health_text`'s category
    of it), with what to do when our client cannot read this camera at all. No verdict in
    the prefix: "unreachable" here would make a login refusal or a bad SDP read as one."""
    text = f"camera {spec.camera_id}: {exc}"
    hint = unreadable_hint(spec, exc)
    return text if hint is None else f"{text}; {hint}"


class _Pull(asyncio.Protocol):
    """The camera's bytes fed to the depacketizer as they arrive.

    A protocol rather than `StreamReader.read` under `asyncio.wait_for`: the camera's RTP
    arrives in a few hundred TCP reads a second, and each read through a stream cost a
    coroutine resume, a buffer copy and (Python 3.11) a `wait_for` task, for every camera
    whether one viewer watches or a hundred.
    """

    def __init__(self, stream: Stream, loop: asyncio.AbstractEventLoop) -> None:
        self.stream = stream
        # Set once with the exception that ended the pull (the camera closed, an error).
        self.ended: asyncio.Future[BaseException] = loop.create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.stream.feed(data, time.monotonic())
        except Exception as exc:  # handed to _pump, which raises it as the read did
            self._end(exc)
            if self.transport is not None:
                self.transport.close()

    def eof_received(self) -> bool:
        self._end(ConnectionError("camera closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc or ConnectionError("camera closed the connection"))

    def _end(self, exc: BaseException) -> None:
        if not self.ended.done():
            self.ended.set_result(exc)
