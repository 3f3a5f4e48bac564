"""One GB/T 28181 channel read on the caller's thread: the GB half of the camera reader,
beside `camera.ffmpeg_source.FfmpegSource` and shaped like it (`open()`, `units()`,
`close()`, the same `Counters`), so a service drives it the way it drives FFmpeg's.

`open()` binds where the video will come (a UDP port, or a TCP port we listen on: "TCP
passive"), asks the SIP side to INVITE the channel there (`PlaySignalling`: the GB service,
in-process or, later, over Redis) and, for TCP, waits for the device to connect from the
address it answered. `units()` receives RTP (`rtp_receiver`: reorder, losses, pictures),
demuxes PS (`ps_demux`) and yields access units, a `None` after each read slice without
data, and raises `GbStreamError` when the device hangs up (BYE), closes its TCP connection
or goes quiet for `read_timeout_s`. `close()` sends the BYE. Errors from the stream are
counted in `stream_errors` (malformed or foreign RTP, pictures dropped for a hole, broken
packs), never raised: one broken pack costs a picture, not the camera.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable, Generator, Iterator
from typing import Protocol

from camera.gb28181.datagrams import DatagramReader
from camera.gb28181.invite import MediaOffer, MediaTransport, PlayHandle
from camera.gb28181.ps_demux import PsDemuxer
from camera.gb28181.rtp_receiver import RtpReceiver
from camera.rtsp.counters import Counters
from camera.rtsp.depacketize import AccessUnit

log = logging.getLogger(__name__)

SLICE_S = 0.25  # each read waits at most this long, so a stop is seen quickly
_UDP_BUFFER = 4 * 1024 * 1024  # bursts of a keyframe at 8 Mb/s fit
_TCP_READ = 262144
_MAX_PACKETS_PER_READ = 256  # then the stop flag and the timers have their turn
# A read that found this many packets waiting is a stream fast enough (or a keyframe big
# enough) to fill the socket's buffer if left a whole `read_every_s`: read again at once.
_BUSY_READ = 128


class GbPlayError(ConnectionError):
    """The channel could not be played; the message names the device and the channel."""


class GbStreamError(ConnectionError):
    """A playing channel ended or failed (the message names device and channel)."""


class PlaySignalling(Protocol):
    """The SIP side as a reader sees it (blocking; run on the reader's thread)."""

    def start(
        self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
    ) -> PlayHandle: ...

    def stop(self, handle: PlayHandle) -> None: ...


class GbSource(Counters):
    """One channel's live video: `open()`, then `units()` until it ends, then `close()`."""

    def __init__(
        self,
        device_id: str,
        channel_id: str,
        signalling: PlaySignalling,
        *,
        transport: MediaTransport = "udp",
        host: str = "127.0.0.1",
        answer_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
        read_every_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.device_id = device_id
        self.channel_id = channel_id
        self.where = f"device {device_id} channel {channel_id}"
        self.signalling = signalling
        self.transport = transport
        self.host = host
        self.answer_timeout_s = answer_timeout_s
        self.read_timeout_s = read_timeout_s
        # While video flows, read at most this often (0: as soon as anything comes). What
        # a wake-up costs (the thread scheduled, the GIL taken back, the loop's Python) is
        # paid per read, not per byte, and a device sends a picture as several bursts:
        # reading once a frame interval takes each picture in about one wake-up instead
        # of two or three, for at most that much delay.
        self.read_every_s = read_every_s
        self.handle: PlayHandle | None = None
        self.receiver: RtpReceiver | None = None
        self.demuxer = PsDemuxer()
        self._listen: socket.socket | None = None
        self._sock: socket.socket | None = None
        self._tcp_buffer = bytearray()
        self._datagrams: DatagramReader | None = None
        self._last_key_ts: int | None = None

    @property
    def codec(self) -> str | None:
        return self.demuxer.codec

    def open(self) -> PlayHandle:
        """INVITE and, for TCP, accept the device's connection; GbPlayError otherwise."""
        sock = socket.socket(
            socket.AF_INET, socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        )
        try:
            sock.bind((self.host, 0))
            if self.transport == "udp":
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_BUFFER)
                self._sock = sock
                self._datagrams = DatagramReader()
            else:
                sock.listen(1)
                self._listen = sock
            port = int(sock.getsockname()[1])
            offer = MediaOffer(self.transport, self.host, port)
            self.handle = self.signalling.start(
                self.device_id, self.channel_id, offer, self.answer_timeout_s
            )
        except GbPlayError:  # an OSError too: already says what happened
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise GbPlayError(f"{self.where}: cannot receive on {self.host}: {exc}") from None
        except BaseException:
            self.close()
            raise
        answer = self.handle.answer
        self.receiver = RtpReceiver(answer.ssrc, answer.payload_type)
        if self.transport == "tcp":
            self._accept(answer.host)
        self.last_data_at = self.session_started = time.monotonic()
        return self.handle

    def _accept(self, device_host: str) -> None:
        listen = self._listen
        assert listen is not None
        deadline = time.monotonic() + self.answer_timeout_s
        while (left := deadline - time.monotonic()) > 0:
            listen.settimeout(left)
            try:
                conn, addr = listen.accept()
            except TimeoutError:
                break
            except OSError as exc:
                self.close()
                raise GbPlayError(f"{self.where}: TCP accept failed: {exc}") from None
            if addr[0] == device_host:
                self._sock = conn
                listen.close()
                self._listen = None
                return
            log.warning("gb28181: %s: refused media connection from %s", self.where, addr[0])
            conn.close()
        self.close()
        raise GbPlayError(
            f"{self.where}: the device did not connect its TCP media in "
            f"{self.answer_timeout_s:.0f} s"
        )

    def units(self, stopping: Callable[[], bool]) -> Iterator[AccessUnit | None]:
        """Access units as they arrive, and None after each slice without any; returns once
        `stopping()`; GbStreamError when the call ends or the stream goes quiet."""
        sock, handle, receiver = self._sock, self.handle, self.receiver
        assert sock is not None and handle is not None and receiver is not None, "open() first"
        # After a sleep of `read_every_s` video is almost surely waiting, and a UDP read
        # never blocks: read without asking `select` first (a system call, and a release of
        # the GIL that, with a thread per camera, is a handoff), and wait only if nothing was.
        unasked = False
        while not stopping():
            if handle.ended.is_set():
                raise GbStreamError(f"{self.where}: {handle.reason or 'the call ended'}")
            ready = unasked or bool(select.select([sock], [], [], SLICE_S)[0])
            now = time.monotonic()
            got = 0
            if ready:
                got = yield from self._receive(sock, receiver, now)
            yield from self._pictures(receiver.tick(now), now)
            if got:
                self.last_data_at = now
                unasked = False
                if self.read_every_s > 0 and got < _BUSY_READ:
                    wait = now + self.read_every_s - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)  # what comes meanwhile waits in the socket
                    unasked = self._datagrams is not None
                continue
            if unasked:  # nothing came while asleep: wait for it
                unasked = False
                continue
            idle = now - self.last_data_at
            if idle > self.read_timeout_s:
                raise GbStreamError(f"{self.where}: no video for {idle:.1f} s")
            yield None

    def _receive(
        self, sock: socket.socket, receiver: RtpReceiver, now: float
    ) -> Generator[AccessUnit, None, int]:
        """What is waiting on the socket, through the receiver and the demuxer; returns
        how many packets came. Packets are handed over where they were read (`push_many`),
        never copied one by one."""
        got = 0
        if self._datagrams is not None:  # UDP: a call per batch, not per packet
            reader = self._datagrams
            for _ in range(_MAX_PACKETS_PER_READ // reader.batch):
                spans = reader.read(sock)
                if not spans:
                    break
                got += len(spans)
                self.bytes_total += sum(end - start for start, end in spans)
                yield from self._pictures(receiver.push_many(reader.view, spans, now), now)
                if len(spans) < reader.batch:
                    break  # drained
            return got
        try:
            data = sock.recv(_TCP_READ)
        except OSError as exc:
            raise GbStreamError(f"{self.where}: media connection failed: {exc}") from None
        if not data:
            raise GbStreamError(f"{self.where}: the device closed the media connection")
        buf = self._tcp_buffer
        buf += data
        framed: list[tuple[int, int]] = []
        pictures: list[tuple[bytes, int]] = []
        at = 0
        while len(buf) - at >= 2:  # RFC 4571: a 16-bit length, then the packet
            size = (buf[at] << 8) | buf[at + 1]
            if len(buf) - at - 2 < size:
                break
            framed.append((at + 2, at + 2 + size))
            at += 2 + size
        if framed:
            with memoryview(buf) as view:  # released before the buffer is cut below
                pictures = receiver.push_many(view, framed, now)
            self.bytes_total += sum(end - start for start, end in framed)
        del buf[:at]  # at most one packet (64 KiB) is ever left waiting
        yield from self._pictures(pictures, now)
        return len(framed)

    def _pictures(self, frames: list[tuple[bytes, int]], now: float) -> Iterator[AccessUnit]:
        if not frames:
            self._sync_errors()
            return
        for ps, ts in frames:
            for au in self.demuxer.feed(ps, ts):
                yield self._count(au, now)
        self._sync_errors()

    def _count(self, au: AccessUnit, now: float) -> AccessUnit:
        self.frames_total += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        if au.keyframe:
            self.keyframes_total += 1
            if self._last_key_ts is not None:
                step = (au.rtp_timestamp - self._last_key_ts) & 0xFFFFFFFF
                if 0 < step < 90000 * 60:
                    self.keyframe_interval_s = step / 90000
            self._last_key_ts = au.rtp_timestamp
        return au

    def _sync_errors(self) -> None:
        r, d = self.receiver, self.demuxer
        if r is not None:
            self.stream_errors = r.errors + d.broken + d.oversized + d.unsupported

    @property
    def packets_lost(self) -> int:
        return 0 if self.receiver is None else self.receiver.reorder.lost

    def close(self) -> None:
        """BYE (if the call is up) and release the sockets; safe to call twice."""
        handle = self.handle  # kept: what was played stays readable after the call
        if handle is not None and not handle.ended.is_set():  # a BYE sets it: never twice
            try:
                self.signalling.stop(handle)
            except Exception:  # the device may be gone: nothing more to do
                log.info("gb28181: %s: BYE failed", self.where, exc_info=True)
        for sock in (self._sock, self._listen):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._sock = self._listen = None
        self._datagrams = None
