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
never shown as they are.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from camera.ffmpeg import SLICE_S, FfmpegText, ffmpeg_options, ffmpeg_url, parameter_sets
from camera.rtsp.depacketize import AccessUnit
from camera.rtsp.errors import RtspPlainBasicError, redact_url
from camera.rtsp.handshake import refuse_plain_basic
from camera.rtsp.sdp import VideoTrack
from ingest.decode import Decoder
from ingest.session import Session

if TYPE_CHECKING:
    from ingest.engine import IngestEngine

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 0.25  # how often a playing reader updates the camera's health


class PyavStream:
    """One FFmpeg connection's counters, read by the health thread like `Stream`'s."""

    def __init__(self, time_base: Fraction | None) -> None:
        self._time_base = time_base
        self.bytes_total = 0
        self.frames_total = 0
        self.keyframes_total = 0
        self.stream_errors = 0
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.last_data_at = time.monotonic()
        self.session_started = self.last_data_at
        self.keyframe_interval_s: float | None = None
        self._last_key_s: float | None = None
        self.last_ts = 0  # 90 kHz, wrapping like an RTP timestamp (what `Decoder` expects)

    def feed(self, packet: Packet[VideoStream], now: float) -> None:
        """Count one packet: the RTSP demuxer's parser hands out whole access units."""
        self.bytes_total += packet.size
        self.last_data_at = now
        self.frames_total += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        if packet.is_corrupt:
            self.stream_errors += 1
        pts_s = (
            float(packet.pts * self._time_base)
            if packet.pts is not None and self._time_base
            else None
        )
        if pts_s is not None:
            self.last_ts = int(pts_s * 90000) & 0xFFFFFFFF
        if packet.is_keyframe:
            self.keyframes_total += 1
            if pts_s is not None:
                if self._last_key_s is not None and pts_s > self._last_key_s:
                    self.keyframe_interval_s = pts_s - self._last_key_s
                self._last_key_s = pts_s


class PyavReader(threading.Thread):
    """Reads one camera with FFmpeg until stopped, reconnecting with the camera's backoff."""

    def __init__(self, engine: IngestEngine, sess: Session) -> None:
        super().__init__(name=f"ingest-pyav-{sess.spec.camera_id}", daemon=True)
        self.engine = engine
        self.sess = sess
        self._stopped = threading.Event()
        self.text = FfmpegText(sess.spec, "pyav reader")
        self._track: VideoTrack | None = None
        self._diagnose_next_key = False

    def stop(self) -> None:
        """Ask the thread to end; a blocked read notices within SLICE_S (the open within
        the engine's connect timeout)."""
        self._stopped.set()

    def halted(self) -> bool:
        eng = self.engine
        cid = self.sess.spec.camera_id
        return (
            self._stopped.is_set() or eng._stop.is_set() or eng._sessions.get(cid) is not self.sess
        )

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
                log.error(
                    "camera %s: PyAV reader failed:\n%s", cid, self.scrub(traceback.format_exc())
                )
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
        """Open, then read until a failure (returned, credentials redacted) or a stop (None)."""
        sess = self.sess
        eng = self.engine
        sess.connecting = True
        try:
            refuse_plain_basic(
                sess.spec.url,
                sess.spec.username,
                sess.spec.allow_plain_basic,
                eng.connect_timeout_s,
            )
        except RtspPlainBasicError as exc:
            return f"{exc} ({self.text.label})"
        try:
            container = av.open(
                ffmpeg_url(sess.spec),
                options=ffmpeg_options(sess.spec.transport, eng.stall_s),
                timeout=(eng.connect_timeout_s, SLICE_S),
            )
        except av.error.ExitError:
            return (
                None
                if self.halted()
                else self._where(f"no answer within {eng.connect_timeout_s:.0f} s")
            )
        except av.error.FFmpegError as exc:
            return self.describe(exc)
        try:
            if not container.streams.video:
                return self._where("FFmpeg found no video track")
            video = container.streams.video[0]
            self._attach(video)
            return self._pump(container, video)
        finally:
            sess.retire_stream()
            try:
                container.close()
            except av.error.FFmpegError as exc:  # TEARDOWN to a dead camera: nothing to do
                log.debug("camera %s: close: %s", sess.spec.camera_id, self.scrub(str(exc)))

    def _attach(self, video: VideoStream) -> None:
        sess = self.sess
        eng = self.engine
        spec = sess.spec
        ctx = video.codec_context
        codec = ctx.name
        sets = parameter_sets(ctx.extradata)
        self._track = VideoTrack(codec, 0, 90000, redact_url(spec.url), sets)
        if spec.sampling != "off":
            sess.decoder = Decoder(
                spec.camera_id,
                codec,
                eng._decode_pool,
                sess.slot,
                keyframes_only=spec.sampling == "keyframes",
                fps=spec.fps if spec.sampling == "fps" else None,
                parameter_sets=sets,
            )
        sess.pyav_stream = PyavStream(video.time_base)
        sess.codec = codec
        sess.connecting = False
        if sess.ever_connected:
            sess.reconnects += 1
        sess.ever_connected = True
        sess.next_diagnosis = time.monotonic() + min(2.0, eng.diagnose_every_s)
        log.info("camera %s: playing through FFmpeg (%s)", spec.camera_id, codec)

    def _pump(self, container: InputContainer, video: VideoStream) -> str | None:
        sess = self.sess
        stream = sess.pyav_stream
        assert stream is not None
        next_tick = 0.0
        while True:
            try:
                for packet in container.demux(video):
                    if self.halted():
                        return None
                    now = time.monotonic()
                    if packet.size:  # size 0: the flush packet after the end
                        stream.feed(packet, now)
                        self._deliver(packet, stream)
                    if now >= next_tick:
                        next_tick = now + HOUSEKEEPING_S
                        self._housekeeping(stream, now)
                return self._where("the camera ended the stream")
            except av.error.ExitError:
                pass  # our read slice ran out: see whether to stop or give up
            except av.error.FFmpegError as exc:
                return self.describe(exc)
            if self.halted():
                return None
            now = time.monotonic()
            self._housekeeping(stream, now)
            if now - stream.last_data_at > self.engine.stall_s:
                return self._where(f"no data for {now - stream.last_data_at:.1f} s")

    def _deliver(self, packet: Packet[VideoStream], stream: PyavStream) -> None:
        sess = self.sess
        key = packet.is_keyframe
        decoder = sess.decoder
        wanted = decoder is not None and (key or sess.spec.sampling == "fps")
        diagnose = key and self._diagnose_next_key
        if not (wanted or diagnose):
            return  # keyframe mode skips other frames without copying them
        au = AccessUnit(bytes(packet), key, stream.last_ts)
        if wanted and decoder is not None:
            decoder.submit(au)
        if diagnose and self._track is not None:
            self._diagnose_next_key = False
            self.engine._decode_pool.submit(
                self.engine._decode_for_diagnosis, sess, self._track, au
            )

    def _housekeeping(self, stream: PyavStream, now: float) -> None:
        sess = self.sess
        eng = self.engine
        sess.tick(now)
        if stream.last_frame_at is not None and sess.backoff.attempts:
            sess.backoff.reset()
            sess.last_error = None  # recovered: the reconnect count keeps the history
            sess.outage.ended("camera %s: playing again", sess.spec.camera_id)
        if stream.last_frame_at is None or now < sess.next_diagnosis or sess.diagnosing:
            return
        sess.next_diagnosis = now + eng.diagnose_every_s
        sess.diagnosing = True
        if sess.decoder is not None:
            eng.observe_sampled(sess)
        else:  # analytics takes no frames: decode the next keyframe just for this
            self._diagnose_next_key = True

    def describe(self, exc: av.error.FFmpegError) -> str:
        return self.text.describe(exc)

    def _where(self, what: str) -> str:
        return self.text.where(what)

    def scrub(self, text: str) -> str:
        return self.text.scrub(text)
