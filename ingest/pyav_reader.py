"""The fallback reader: FFmpeg's RTSP client through PyAV, one thread per camera.

For the cameras our own client (`camera.rtsp`) cannot read: firmwares that answer a TCP
SETUP with 461 and offer RTP over UDP only, and servers whose answers or SDP our parser
rejects. FFmpeg's demuxer blocks in its reads and costs syscalls per RTP packet, so each
such camera gets a thread of its own: right for the odd firmware, too dear for a fleet.

Packets go where the native reader's access units go: the session's counters (health),
the analytics decoder (keyframes or N fps, decoded once) and picture diagnosis; failures
reconnect with the camera's backoff. The URL handed to FFmpeg carries the credentials (it
has no other way to take them), so it never leaves this module: FFmpeg's own messages name
it, which is why errors are rebuilt from their `strerror` (`camera.ffmpeg.FfmpegText`) and
never shown as they are. Opening and reading are `camera.ffmpeg_source.FfmpegSource`'s (the
relay's FFmpeg pull uses the same); this module is the thread, the reconnects and what a
packet feeds. It knows the engine only through `ReaderHost`.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import Executor
from typing import Protocol

from camera.ffmpeg import FfmpegText
from camera.ffmpeg_source import FfmpegOpenError, FfmpegSource, FfmpegStreamError
from camera.reader import StreamCounters
from camera.rtsp.depacketize import AccessUnit
from camera.rtsp.errors import redact_url
from camera.rtsp.sdp import VideoTrack
from ingest.decode import Decoder
from ingest.session import Session
from ingest.tee import Tee

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 0.25  # how often a playing reader updates the camera's health


class ReaderHost(Protocol):
    """What a PyAV reader needs from the engine that runs it."""

    @property
    def connect_timeout_s(self) -> float: ...
    @property
    def stall_s(self) -> float: ...
    @property
    def diagnose_every_s(self) -> float: ...
    @property
    def decode_pool(self) -> Executor: ...
    def is_current(self, sess: Session) -> bool:
        """False once the engine stops or the camera was removed or replaced."""
        ...

    def observe_sampled(self, sess: Session) -> None: ...
    def decode_for_diagnosis(self, sess: Session, track: VideoTrack, au: AccessUnit) -> None: ...


class PyavReader(threading.Thread):
    """Reads one camera with FFmpeg until stopped, reconnecting with the camera's backoff."""

    def __init__(self, host: ReaderHost, sess: Session) -> None:
        super().__init__(name=f"ingest-pyav-{sess.spec.camera_id}", daemon=True)
        self.host = host
        self.sess = sess
        self._stopped = threading.Event()
        self.text = FfmpegText(sess.spec, "pyav reader")  # scrubs an unexpected traceback
        self._track: VideoTrack | None = None
        self._tee = Tee(())

    def stop(self) -> None:
        """Ask the thread to end; a blocked read notices within SLICE_S (the open within
        the engine's connect timeout)."""
        self._stopped.set()

    def halted(self) -> bool:
        return self._stopped.is_set() or not self.host.is_current(self.sess)

    # -- the thread ------------------------------------------------------------------
    def run(self) -> None:
        sess = self.sess
        cid = sess.spec.camera_id
        while not self.halted():
            reason: str | None = None
            try:
                reason = self._play_once()
            except Exception as exc:  # a bug must not end the camera's retries
                reason = f"{redact_url(sess.spec.url)}: unexpected {type(exc).__name__}"
                trace = self.text.scrub(traceback.format_exc())
                log.error("camera %s: PyAV reader failed:\n%s", cid, trace)
            finally:
                if reason is not None and not self.halted():
                    # Before the stream is retired: a health report taken in between would
                    # show the camera offline with no reason.
                    sess.last_error = reason
                sess.connecting = False
                sess.retire_stream()
            if reason is None or self.halted():
                break
            delay = sess.backoff.next_delay()
            sess.next_attempt = time.monotonic() + delay
            sess.outage.failed("camera %s offline: %s", cid, reason)
            self._stopped.wait(delay)
        log.debug("camera %s: PyAV reader stopped", cid)

    def _play_once(self) -> str | None:
        """Open, then read until a failure (returned, credentials redacted) or a stop (None).
        The caller retires the stream, after writing the reason."""
        sess = self.sess
        host = self.host
        sess.connecting = True
        source = FfmpegSource(sess.spec, "pyav reader", host.connect_timeout_s, host.stall_s)
        try:
            opened = source.open()
        except FfmpegOpenError as exc:
            return None if self.halted() else str(exc)
        try:
            self._attach(source, opened.codec, opened.parameter_sets)
            log.info("camera %s: playing through FFmpeg (%s)", sess.spec.camera_id, opened.codec)
            next_tick = 0.0
            for au in source.units(self.halted):
                now = time.monotonic()
                if au is not None:
                    self._deliver(au)
                if au is None or now >= next_tick:
                    next_tick = now + HOUSEKEEPING_S
                    self._housekeeping(source, now)
            return None  # stopped
        except FfmpegStreamError as exc:
            return str(exc)
        finally:
            source.close()

    def _attach(self, source: StreamCounters, codec: str, sets: list[bytes]) -> None:
        """The stream plays: decoder, tee and counters for the session (also the GB
        reader's, `ingest.gb_reader`, once its first keyframe says the codec)."""
        sess = self.sess
        host = self.host
        spec = sess.spec
        self._track = VideoTrack(codec, 0, 90000, redact_url(spec.url), sets)
        if spec.sampling != "off":
            sess.decoder = Decoder(
                spec.camera_id,
                codec,
                host.decode_pool,
                sess.slot,
                keyframes_only=spec.sampling == "keyframes",
                fps=spec.fps if spec.sampling == "fps" else None,
                parameter_sets=sets,
            )
        # Every unit to the sinks (clips, recording), the decoder what its mode asks for.
        self._tee = Tee(sess.sinks, sess.decoder, keyframes_only=spec.sampling == "keyframes")
        self._tee.restart(codec, sets)
        sess.tee = self._tee
        sess.pyav_stream = source
        sess.codec = codec
        sess.connecting = False
        if sess.ever_connected:
            sess.reconnects += 1
        sess.ever_connected = True
        sess.next_diagnosis = time.monotonic() + min(2.0, host.diagnose_every_s)

    def _deliver(self, au: AccessUnit) -> None:
        self._tee(au)

    def _diagnose(self, au: AccessUnit) -> None:
        if self._track is not None:
            self.host.decode_pool.submit(self.host.decode_for_diagnosis, self.sess, self._track, au)

    def _housekeeping(self, stream: StreamCounters, now: float) -> None:
        sess = self.sess
        host = self.host
        sess.tick(now)
        if stream.last_frame_at is not None and sess.backoff.attempts:
            sess.backoff.reset()
            sess.last_error = None  # recovered: the reconnect count keeps the history
            sess.outage.ended("camera %s: playing again", sess.spec.camera_id)
        if stream.last_frame_at is None or now < sess.next_diagnosis or sess.diagnosing:
            return
        sess.next_diagnosis = now + host.diagnose_every_s
        sess.diagnosing = True
        if sess.decoder is not None:
            host.observe_sampled(sess)
        else:  # analytics takes no frames: decode the next keyframe just for this
            self._tee.next_keyframe(self._diagnose)
