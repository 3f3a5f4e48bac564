"""One camera read through FFmpeg (PyAV) on the caller's thread: the FFmpeg half of the camera
reader, shared by ingest (`ingest.pyav_reader`, which decodes for analytics) and the relay
(`relay.pyav_pull`, which passes H.264 through).

A source opens the camera, then yields what the native client's depacketizer yields
(`camera.rtsp.depacketize.AccessUnit`): Annex B (FFmpeg's RTSP H.264/H.265 depacketizers
write start codes), whole access units (its parser joins a picture's NAL units), and a
90 kHz timestamp (RTSP streams run on the RTP clock). Its counters are those of the native
`camera.rtsp.stream.Stream`, so a camera's health reads the same whichever reader plays it.

FFmpeg's demuxer blocks in its reads; `SLICE_S` bounds each one (PyAV's interrupt callback),
so `units()` hands the caller a `None` every slice without data (time for its timers and
its stop check) and gives up itself after `read_timeout_s` of silence. Every message is
built by `camera.ffmpeg.FfmpegText`: FFmpeg's own name the URL, credentials and all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from camera.ffmpeg import SLICE_S, FfmpegText, ffmpeg_options, ffmpeg_url, parameter_sets
from camera.rtsp.counters import Counters
from camera.rtsp.depacketize import AccessUnit
from camera.rtsp.errors import RtspPlainBasicError
from camera.rtsp.handshake import refuse_plain_basic
from camera.spec import StreamSpec

log = logging.getLogger(__name__)

_TS_MASK = 0xFFFFFFFF


class FfmpegOpenError(Exception):
    """FFmpeg could not open the camera; the message is safe to show (no credentials)."""


class FfmpegStreamError(ConnectionError):
    """The camera ended the stream or FFmpeg's read failed after it played (safe message)."""


class FfmpegStallError(FfmpegStreamError, TimeoutError):
    """No data from a playing camera for the read timeout."""


@dataclass(frozen=True)
class FfmpegOpened:
    codec: str  # FFmpeg's name: h264, hevc, ...
    parameter_sets: list[bytes]  # SPS/PPS(/VPS) from the SDP (FFmpeg's extradata), Annex B


class FfmpegSource(Counters):
    """One FFmpeg session: `open()`, then `units()` until it ends, then `close()`."""

    def __init__(
        self, spec: StreamSpec, label: str, open_timeout_s: float, read_timeout_s: float
    ) -> None:
        super().__init__()  # counters as our RTSP client's `Stream` keeps them
        self.spec = spec
        self.text = FfmpegText(spec, label)
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._container: InputContainer | None = None
        self._video: VideoStream | None = None
        self._time_base: Fraction | None = None
        self._last_key_s: float | None = None
        self.last_ts = 0  # 90 kHz, wrapping like an RTP timestamp

    def open(self) -> FfmpegOpened:
        spec = self.spec
        try:
            refuse_plain_basic(spec.url, spec.username, spec.allow_plain_basic, self.open_timeout_s)
        except RtspPlainBasicError as exc:
            raise FfmpegOpenError(f"{exc} ({self.text.label})") from None
        started = time.monotonic()
        try:
            container = av.open(
                ffmpeg_url(spec),
                options=ffmpeg_options(spec.transport, self.read_timeout_s),
                timeout=(self.open_timeout_s, SLICE_S),
            )
        except av.error.FFmpegError as exc:
            # The open timeout interrupts FFmpeg's RTSP demuxer, which reports it as "invalid
            # data" (AVERROR_INVALIDDATA), not as an exit: tell the operator what happened.
            timed_out = time.monotonic() - started >= self.open_timeout_s * 0.95
            if isinstance(exc, av.error.ExitError) or (
                timed_out and isinstance(exc, av.error.InvalidDataError)
            ):
                what = f"no answer within {self.open_timeout_s:.0f} s"
                raise FfmpegOpenError(self.text.where(what)) from None
            raise FfmpegOpenError(self.text.describe(exc)) from None
        self._container = container
        if not container.streams.video:
            self.close()
            raise FfmpegOpenError(self.text.where("FFmpeg found no video track"))
        video = self._video = container.streams.video[0]
        self._time_base = video.time_base
        self.last_data_at = self.session_started = time.monotonic()
        ctx = video.codec_context
        return FfmpegOpened(ctx.name, parameter_sets(ctx.extradata))

    def units(self, stopping: Callable[[], bool]) -> Iterator[AccessUnit | None]:
        """Access units as they arrive, and None after each read slice without data. Returns
        once `stopping()`; raises FfmpegStreamError when the camera ends, fails or goes
        quiet for `read_timeout_s`."""
        container, video = self._container, self._video
        assert container is not None and video is not None, "open() first"
        while True:
            try:
                for packet in container.demux(video):
                    if stopping():
                        return
                    if packet.size:  # size 0: the flush packet after the end
                        yield self._count(packet, time.monotonic())
                raise FfmpegStreamError(self.text.where("the camera ended the stream"))
            except av.error.ExitError:
                pass  # our read slice ran out: see whether to stop or give up
            except av.error.FFmpegError as exc:
                raise FfmpegStreamError(self.text.describe(exc)) from None
            if stopping():
                return
            idle = time.monotonic() - self.last_data_at
            if idle > self.read_timeout_s:
                raise FfmpegStallError(self.text.where(f"no data from the camera for {idle:.1f} s"))
            yield None

    def close(self) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            container.close()
        except av.error.FFmpegError as exc:  # TEARDOWN to a dead camera: nothing to do
            log.debug("%s: close: %s", self.spec.camera_id, self.text.scrub(str(exc)))

    def _count(self, packet: Packet[VideoStream], now: float) -> AccessUnit:
        self.bytes_total += packet.size
        self.last_data_at = now
        self.frames_total += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        if packet.is_corrupt:
            self.stream_errors += 1
        tb = self._time_base
        pts_s: float | None = None
        if packet.pts is not None and tb:
            pts = packet.pts * tb  # exact (a Fraction): no tick lost to rounding
            pts_s = float(pts)
            self.last_ts = int(pts * 90000) & _TS_MASK
        key = bool(packet.is_keyframe)
        if key:
            self.keyframes_total += 1
            if pts_s is not None:
                if self._last_key_s is not None and pts_s > self._last_key_s:
                    self.keyframe_interval_s = pts_s - self._last_key_s
                self._last_key_s = pts_s
        return AccessUnit(bytes(packet), key, self.last_ts)
