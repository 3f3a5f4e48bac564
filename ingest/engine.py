"""The ingest engine: many camera sessions on a few reader threads.

Connecting is slow and blocking (DNS, TCP, RTSP round trips), so it runs on a small
connector pool; playing sockets are handed to a reader thread that polls all of its
cameras, reads them in bulk every `poll_s` and walks their RTP (see `camera.rtsp`).
Decoding runs on a separate pool only for cameras whose analytics profile asks for frames.
Cameras beyond this client (UDP only, answers it cannot parse) are read by FFmpeg on a
thread of their own instead (`ingest.pyav_reader`), chosen per camera or on such a failure;
GB/T 28181 channels (`gb28181://`) too, each on its own thread (`ingest.gb_reader`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av

from camera.clip_buffer import ClipBuffer
from camera.ffmpeg import can_fall_back, explain_unreadable
from camera.gb28181.signalling import GbSignalling
from camera.rtsp.depacketize import AccessUnit, Assembler
from camera.rtsp.errors import RtspError, RtspIncompatibleError, redact_url
from camera.rtsp.handshake import PlayingSession, keepalive_request, open_session, teardown_request
from camera.rtsp.sdp import VideoTrack
from camera.rtsp.stream import Stream
from camera.rtsp.tls import read_available
from camera.spec import StreamSpec
from ingest.decode import Decoder
from ingest.frames import Clip, SampledFrame
from ingest.gb_reader import GbReader
from ingest.pyav_reader import PyavReader
from ingest.recorder import Recorder
from ingest.session import Session
from ingest.tee import Tee
from sharpeye.backoff import Backoff
from sharpeye.contracts.health import CameraHealth, CameraState

log = logging.getLogger(__name__)

READ_SIZE = 262144  # per camera and poll: a few polls' worth of a 4 Mb/s stream
# A picture that matched the previous sample is checked again this soon (more than a GOP,
# so the next keyframe is another picture), rather than a diagnosis period later: samples a
# period apart can land on the same spot of looping footage and read as frozen.
FROZEN_RECHECK_S = 3.0


class _Reader(threading.Thread):
    def __init__(self, engine: IngestEngine, index: int) -> None:
        super().__init__(name=f"ingest-reader-{index}", daemon=True)
        self.engine = engine
        self.sel = selectors.DefaultSelector()
        self.inbox: deque[tuple[Session, int, PlayingSession]] = deque()
        self.closing: deque[tuple[Session, str | None]] = deque()
        self.sessions: set[Session] = set()
        self.backlog: set[Session] = set()  # TLS sessions to read without waiting for poll

    def _read(self, sess: Session, sock: socket.socket) -> bytes | None:
        """A bulk read; None when nothing is there yet (OSError propagates)."""
        if isinstance(sock, ssl.SSLSocket):
            data, more = read_available(sock, READ_SIZE)
            if more:
                self.backlog.add(sess)
            return data
        try:
            return sock.recv(READ_SIZE)
        except BlockingIOError:
            return None

    def run(self) -> None:
        eng = self.engine
        poll = eng.poll_s
        next_tick = 0.0
        while not eng._stop.is_set():
            t0 = time.monotonic()
            while self.inbox:
                item = self.inbox.popleft()
                try:
                    self._attach(*item)
                except Exception:  # one camera's failure must not stop the others
                    log.exception("camera %s: attach failed", item[0].spec.camera_id)
                    _quiet_close(item[2].sock)
                    self._close(item[0], "internal error while attaching (see log)")
            while self.closing:
                sess, reason = self.closing.popleft()
                self._close(sess, reason, teardown=reason is None)
            # TLS sessions with decrypted bytes left in their SSL object are due now, whether
            # or not poll() reports their socket (it cannot see those bytes).
            due = [key.data for key, _ in self.sel.select(timeout=0 if self.backlog else poll)]
            if self.backlog:
                due += self.backlog.difference(due)
                self.backlog.clear()
            for sess in due:
                stream = sess.stream
                if stream is None:
                    continue
                try:
                    data = self._read(sess, stream.session.sock)
                except OSError as exc:
                    self._close(sess, f"read failed: {exc.strerror or exc}")
                    continue
                if data is None:
                    continue
                if not data:
                    self._close(sess, "connection closed by the camera")
                    continue
                try:
                    stream.feed(data, time.monotonic())
                except Exception:  # a parser bug on odd input: drop this connection only
                    log.exception("camera %s: stream parse failed", sess.spec.camera_id)
                    self._close(sess, "unparseable stream (see log)")
            now = time.monotonic()
            if now >= next_tick:
                self._housekeeping(now)
                next_tick = now + 0.25
            # Reading in bulk is what makes hundreds of cameras cheap: let data accumulate.
            spare = poll - (time.monotonic() - t0)
            if spare > 0:
                time.sleep(spare)
        for sess in list(self.sessions):
            self._close(sess, None, teardown=True)
        self.sel.close()

    def _attach(self, sess: Session, generation: int, ps: PlayingSession) -> None:
        if generation != sess.generation or sess.spec.camera_id not in self.engine._sessions:
            _quiet_close(ps.sock)
            return
        eng = self.engine
        mode = sess.spec.sampling
        assembler: Assembler | None = None
        decoder: Decoder | None = None
        if mode != "off":
            decoder = Decoder(
                sess.spec.camera_id,
                ps.track.codec,
                eng.decode_pool,
                sess.slot,
                keyframes_only=mode == "keyframes",
                fps=sess.spec.fps if mode == "fps" else None,
                parameter_sets=ps.track.parameter_sets,
            )
            sess.decoder = decoder
        sinks = sess.sinks
        if sinks:
            # Clips and recordings need every picture, so the camera is assembled whole and
            # the decoder still sees only what its mode asks for.
            sess.tee = Tee(sinks, decoder, keyframes_only=mode == "keyframes")
            sess.tee.restart(ps.track.codec, ps.track.parameter_sets)
            assembler = Assembler(ps.track.codec, sess.tee, False)
        elif decoder is not None:
            assembler = Assembler(ps.track.codec, decoder.submit, mode == "keyframes")
        stream = Stream(ps, assembler)
        ps.sock.setblocking(False)
        sess.stream = stream
        sess.codec = ps.track.codec
        sess.connecting = False
        if sess.ever_connected:
            sess.reconnects += 1
        sess.ever_connected = True
        sess.next_diagnosis = time.monotonic() + min(2.0, eng.diagnose_every_s)
        self.sessions.add(sess)
        self.sel.register(ps.sock, selectors.EVENT_READ, sess)
        if isinstance(ps.sock, ssl.SSLSocket):
            self.backlog.add(sess)  # the handshake's last read may have left bytes inside
        if ps.leftover:
            stream.feed(ps.leftover, time.monotonic())

    def _close(self, sess: Session, reason: str | None, teardown: bool = False) -> None:
        if reason is not None:
            # Before the stream is retired: a health report taken in between would show the
            # camera offline with no reason.
            sess.last_error = reason
        stream = sess.stream
        if stream is not None:
            sock = stream.session.sock
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(sock)
            if teardown:
                with contextlib.suppress(OSError):
                    sock.send(teardown_request(stream.session))
            _quiet_close(sock)
            sess.retire_stream()
        self.sessions.discard(sess)
        self.backlog.discard(sess)
        if reason is not None:
            sess.next_attempt = time.monotonic() + sess.backoff.next_delay()
            sess.outage.failed("camera %s offline: %s", sess.spec.camera_id, reason)

    def _housekeeping(self, now: float) -> None:
        eng = self.engine
        for sess in list(self.sessions):
            s = sess.stream
            if s is None:
                continue
            sess.tick(now)
            if now - s.last_data_at > eng.stall_s:
                self._close(sess, f"no data for {now - s.last_data_at:.1f} s")
                continue
            since_frame = now - (s.last_frame_at or s.session_started)
            if since_frame > 2 * eng.stall_s:
                self._close(sess, f"no complete frame for {since_frame:.1f} s")
                continue
            if s.last_frame_at is not None and sess.backoff.attempts:
                sess.backoff.reset()
                sess.last_error = None  # recovered: the reconnect count keeps the history
                sess.outage.ended("camera %s: playing again", sess.spec.camera_id)
            if s.last_frame_at is not None and now >= sess.next_diagnosis and not sess.diagnosing:
                sess.next_diagnosis = now + eng.diagnose_every_s
                eng._diagnose(sess, s)
            if now - s.last_keepalive > s.session.timeout_s / 2:
                s.last_keepalive = now
                with contextlib.suppress(OSError):
                    s.session.sock.send(keepalive_request(s.session))


class IngestEngine:
    def __init__(
        self,
        node_id: str = "node-1",
        readers: int = 1,
        poll_s: float = 0.02,
        stall_s: float = 3.0,
        connect_timeout_s: float = 5.0,
        backoff_max_s: float = 15.0,
        connect_workers: int = 16,
        decode_workers: int | None = None,
        diagnose_every_s: float = 60.0,
        clip_seconds: float = 0.0,
        clip_max_bytes: int = 8_000_000,
        recorder: Recorder | None = None,
        gb_signalling: GbSignalling | None = None,
        gb_media_host: str = "127.0.0.1",
    ) -> None:
        self.node_id = node_id
        # gb28181:// cameras: how to reach the SIP service, where devices send RTP.
        self.gb_signalling, self.gb_media_host = gb_signalling, gb_media_host
        self.recorder = recorder  # records the cameras whose spec asks (None: none here)
        # Alarm clips: each analysed camera keeps its last clip_seconds (0: no clips).
        self.clip_seconds = clip_seconds
        self.clip_max_bytes = clip_max_bytes
        self.poll_s = poll_s
        self.stall_s = stall_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_max_s = backoff_max_s
        self.diagnose_every_s = diagnose_every_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._owner: dict[str, _Reader] = {}
        self._readers = [_Reader(self, i) for i in range(max(1, readers))]
        self._connect_pool = ThreadPoolExecutor(
            connect_workers, thread_name_prefix="ingest-connect"
        )
        self.decode_pool = ThreadPoolExecutor(
            decode_workers or os.cpu_count() or 2, thread_name_prefix="ingest-decode"
        )
        self._scheduler = threading.Thread(
            target=self._schedule, name="ingest-scheduler", daemon=True
        )
        self._health_failed: set[str] = set()  # cameras whose health failed, logged once

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for r in self._readers:
            r.start()
        self._scheduler.start()

    def stop(self) -> None:
        self._stop.set()
        for r in self._readers:
            r.join(timeout=5)
        self._scheduler.join(timeout=5)
        deadline = time.monotonic() + 5
        for sess in list(self._sessions.values()):
            if sess.pyav is not None:
                sess.pyav.stop()
                sess.pyav.join(timeout=max(0.0, deadline - time.monotonic()))
        self._connect_pool.shutdown(wait=False, cancel_futures=True)
        self.decode_pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> IngestEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- fleet -----------------------------------------------------------------------
    def add(self, spec: StreamSpec) -> None:
        with self._lock:
            if spec.camera_id in self._sessions:
                raise ValueError(f"camera {spec.camera_id} is already ingested")
            reader = min(self._readers, key=lambda r: len(r.sessions))
            sess = Session(spec, Backoff(max_s=self.backoff_max_s))
            if spec.sampling != "off" and self.clip_seconds > 0:
                sess.clips = ClipBuffer(self.clip_seconds, self.clip_max_bytes)
            if spec.recording is not None and self.recorder is not None:
                sess.recorder = self.recorder.sink(spec.camera_id, spec.recording)
            self._sessions[spec.camera_id] = sess
            self._owner[spec.camera_id] = reader

    def remove(self, camera_id: str) -> None:
        with self._lock:
            sess = self._sessions.pop(camera_id, None)
            reader = self._owner.pop(camera_id, None)
        if sess is not None and sess.recorder is not None:
            sess.recorder.close()
        if sess is not None and reader is not None:
            sess.generation += 1
            reader.closing.append((sess, None))
            if sess.pyav is not None:
                sess.pyav.stop()

    def update(self, spec: StreamSpec) -> None:
        """Apply a changed registry entry: same spec is a no-op, else reconnect."""
        current = self._sessions.get(spec.camera_id)
        if current is not None and current.spec == spec:
            return
        self.remove(spec.camera_id)
        self.add(spec)

    @property
    def camera_ids(self) -> list[str]:
        return list(self._sessions)

    def health(self) -> dict[str, CameraHealth]:
        """Every camera's report; one camera's failure to build its own never costs the
        others theirs (nor the worker its life): it is reported degraded, with the reason."""
        now = time.monotonic()
        out: dict[str, CameraHealth] = {}
        for cid, sess in list(self._sessions.items()):
            try:
                out[cid] = sess.health(self.node_id, now)
                self._health_failed.discard(cid)
            except Exception as exc:
                if cid not in self._health_failed:  # once, not every second for a day
                    self._health_failed.add(cid)
                    log.exception("camera %s: building its health failed", cid)
                out[cid] = CameraHealth(
                    camera_id=cid,
                    node_id=self.node_id,
                    state=CameraState.DEGRADED,
                    reason=f"health report failed: {type(exc).__name__} (see ingest log)",
                    updated_at=time.time(),
                )
        return out

    def latest_frame(self, camera_id: str) -> SampledFrame | None:
        return self._sessions[camera_id].slot.latest()

    def is_current(self, sess: Session) -> bool:
        """Whether this session is still the camera's in a running engine (a PyAV reader
        ends when it is not)."""
        return not self._stop.is_set() and self._sessions.get(sess.spec.camera_id) is sess

    def clip(self, camera_id: str, start: float, end: float) -> Clip | None:
        """The camera's units from the keyframe at or before `start` to `end` (unix times)
        with the codec and parameter sets to mux them, or None without a clip buffer."""
        sess = self._sessions.get(camera_id)
        clips = None if sess is None else sess.clips
        if clips is None or clips.codec is None:
            return None
        return Clip(clips.codec, list(clips.parameter_sets), clips.clip(start, end))

    def wait_frame(
        self, camera_id: str, after_seq: int = 0, timeout: float = 5.0
    ) -> SampledFrame | None:
        return self._sessions[camera_id].slot.wait_newer(after_seq, timeout)

    # -- picture diagnosis -----------------------------------------------------------
    def _diagnose(self, sess: Session, stream: Stream) -> None:
        """Check the picture: on the newest sampled frame, or on one keyframe decoded just
        for this when the camera's analytics profile asks for no frames at all."""
        sess.diagnosing = True
        if sess.decoder is not None:
            self.observe_sampled(sess)
            return
        track = stream.session.track

        def diagnose(au: AccessUnit) -> None:
            self.decode_pool.submit(self.decode_for_diagnosis, sess, track, au)

        if sess.tee is not None:  # sinks take the units: never swap their assembler out
            sess.tee.next_keyframe(diagnose)
            return

        def emit(au: AccessUnit) -> None:
            if stream.assembler is not one_shot:
                return
            stream.assembler = None  # back to demux only
            diagnose(au)

        one_shot = Assembler(track.codec, emit, keyframes_only=True)
        stream.assembler = one_shot

    def observe_sampled(self, sess: Session) -> None:
        """Diagnose the newest sampled frame, unless it is the one diagnosed last time (then
        try again shortly: the same frame twice would read as a frozen picture)."""
        frame = sess.slot.peek()
        key = (frame.seq, frame.received_at) if frame is not None else None
        if frame is None or key == sess.diagnosed_frame:
            sess.next_diagnosis = min(sess.next_diagnosis, time.monotonic() + FROZEN_RECHECK_S)
            sess.diagnosing = False
            return
        sess.diagnosed_frame = key
        self.decode_pool.submit(self._observe, sess, frame.image)

    def decode_for_diagnosis(self, sess: Session, track: VideoTrack, au: AccessUnit) -> None:
        try:
            ctx = av.CodecContext.create(track.codec, "r")
            prefix = b"".join(b"\x00\x00\x00\x01" + p for p in track.parameter_sets)
            for frame in ctx.decode(av.Packet(prefix + au.data)):  # type: ignore[attr-defined]
                self._observe(sess, frame.to_ndarray(format="bgr24"))
                return
        except (av.error.FFmpegError, ValueError) as exc:
            log.debug("camera %s: diagnosis decode failed: %s", sess.spec.camera_id, exc)
        finally:
            sess.diagnosing = False

    def _observe(self, sess: Session, image: Any) -> None:
        try:
            d = sess.diagnosis
            d.observe(image, time.monotonic())
            if d.suspect:  # same picture as last time: look again soon, not a period later
                sess.next_diagnosis = min(sess.next_diagnosis, time.monotonic() + FROZEN_RECHECK_S)
        except Exception:  # a bad frame must not leave the camera undiagnosed for good
            log.exception("camera %s: picture diagnosis failed", sess.spec.camera_id)
        finally:
            sess.diagnosing = False

    # -- connecting ------------------------------------------------------------------
    def _schedule(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for cid, sess in list(self._sessions.items()):
                if sess.reader != "native":
                    if sess.pyav is None:  # from now on its thread connects and reconnects
                        own = GbReader if sess.reader == "gb28181" else PyavReader
                        sess.pyav = own(self, sess)
                        sess.pyav.start()
                    continue
                if sess.stream is None and not sess.connecting and sess.next_attempt <= now:
                    sess.connecting = True
                    self._connect_pool.submit(self._connect, cid, sess, sess.generation)

    def _connect(self, camera_id: str, sess: Session, generation: int) -> None:
        spec = sess.spec
        try:
            ps = open_session(
                spec.url,
                spec.username,
                spec.password,
                self.connect_timeout_s,
                spec.tls,
                allow_plain_basic=spec.allow_plain_basic,
            )
        except RtspError as exc:
            sess.connecting = False
            if isinstance(exc, RtspIncompatibleError) and can_fall_back(spec):
                # Not a network or login problem: this camera is not for our client.
                log.warning("camera %s: %s; reading it through FFmpeg (pyav)", camera_id, exc)
                sess.reader = "pyav"  # the scheduler starts its thread
                return
            sess.last_error = explain_unreadable(camera_id, spec, exc)
            sess.next_attempt = time.monotonic() + sess.backoff.next_delay()
            sess.outage.failed(
                "camera %s: %s", camera_id, sess.last_error.removeprefix(f"camera {camera_id}: ")
            )
            return
        except Exception as exc:  # a bug must not stop the camera from retrying
            sess.connecting = False
            sess.last_error = f"{redact_url(spec.url)}: unexpected {type(exc).__name__}"
            sess.next_attempt = time.monotonic() + sess.backoff.next_delay()
            log.exception("camera %s: connect failed", camera_id)
            return
        reader = self._owner.get(camera_id)
        if reader is None or generation != sess.generation or self._stop.is_set():
            _quiet_close(ps.sock)
            sess.connecting = False
            return
        reader.inbox.append((sess, generation, ps))


def _quiet_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
