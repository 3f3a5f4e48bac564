"""A camera pulled through FFmpeg (PyAV) for the relay: H.264 passed through, never decoded.

For the cameras our own client cannot read (RTP over UDP only, answers beyond our parser),
chosen like ingest chooses (`ingest: {reader: pyav}`, or `auto` after the native client's
`RtspIncompatibleError`). FFmpeg's demuxer blocks in its reads, so each such pull has a
thread; it hands every access unit to the relay's loop (`call_soon_threadsafe`) as the
`AccessUnit` the native depacketizer produces: Annex B (FFmpeg's RTSP H.264 depacketizer
writes start codes), whole access units (its parser joins the NAL units of a picture), and a
90 kHz timestamp. The upstream then treats both pulls the same (parameter sets on keyframes,
GOP cache, packer).

The URL FFmpeg opens carries the credentials (it takes them no other way); it never leaves
this module, and FFmpeg's errors are rebuilt from their `strerror` (their filename is that
URL), with `camera.ffmpeg`'s helpers as ingest's FFmpeg reader does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

from camera.ffmpeg import SLICE_S, FfmpegText, ffmpeg_options, ffmpeg_url, parameter_sets
from camera.rtsp.depacketize import AccessUnit
from camera.rtsp.errors import RtspPlainBasicError
from camera.rtsp.handshake import refuse_plain_basic
from relay.sources import SourceSpec

log = logging.getLogger(__name__)

_TS_MASK = 0xFFFFFFFF


class PyavPullError(Exception):
    """FFmpeg could not open the camera; the message is safe to show (no credentials)."""


@dataclass(frozen=True)
class PyavOpened:
    codec: str  # FFmpeg's name: h264, hevc, ...
    parameter_sets: list[bytes]  # SPS/PPS from the SDP (FFmpeg's extradata), Annex B


class PyavPull:
    """One FFmpeg session on its own thread, from open to end or `stop()`.

    `opened` resolves once the camera plays (or fails with PyavPullError); `ended` resolves
    with the exception that ended the pull (None after a stop). Frames go to `on_frame` on
    the loop, never after `stop()`.
    """

    def __init__(
        self,
        spec: SourceSpec,
        loop: asyncio.AbstractEventLoop,
        on_frame: Callable[[AccessUnit], None],
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self._spec = spec  # camera/'s spec: FFmpeg's URL, options and redaction come from it
        self._loop = loop
        self._on_frame = on_frame
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self.text = FfmpegText(self._spec, "through FFmpeg")
        self.opened: asyncio.Future[PyavOpened] = loop.create_future()
        self.ended: asyncio.Future[BaseException | None] = loop.create_future()
        self._stop = threading.Event()
        self._delivering = True  # loop side: cleared by stop(), so no frame lands after it
        self._thread = threading.Thread(
            target=self._run, name=f"relay-pyav-{spec.camera_id}-{spec.stream}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end: a blocked read notices within SLICE_S, an open within the
        open timeout. Call on the loop."""
        self._delivering = False
        self._stop.set()

    async def join(self, timeout_s: float) -> None:
        """Wait (bounded) for the thread, so its TEARDOWN goes out before the relay stops."""
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout_s)

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        reason: BaseException | None = None
        try:
            reason = self._play()
        except Exception as exc:  # a bug must end this pull visibly, not hang the upstream
            reason = ConnectionError(self._where(f"unexpected {type(exc).__name__}"))
            log.error("%s: FFmpeg pull failed: %s", self._spec.camera_id, self.scrub(repr(exc)))
        if not self._post(self._settle, reason):
            log.debug("%s: FFmpeg pull ended after the loop closed", self._spec.camera_id)

    def _play(self) -> BaseException | None:
        spec = self._spec
        try:
            refuse_plain_basic(
                spec.url, spec.username, spec.allow_plain_basic, self._open_timeout_s
            )
        except RtspPlainBasicError as exc:
            return PyavPullError(f"{exc} ({self.text.label})")
        try:
            container = av.open(
                ffmpeg_url(spec),
                options=ffmpeg_options(spec.transport, self._read_timeout_s),
                timeout=(self._open_timeout_s, SLICE_S),
            )
        except av.error.ExitError:
            return PyavPullError(self._where(f"no answer within {self._open_timeout_s:.0f} s"))
        except av.error.FFmpegError as exc:
            return PyavPullError(self.describe(exc))
        try:
            if not container.streams.video:
                return PyavPullError(self._where("FFmpeg found no video track"))
            video = container.streams.video[0]
            ctx = video.codec_context
            opened = PyavOpened(ctx.name, parameter_sets(ctx.extradata))
            self._post(self._set_opened, opened)
            if opened.codec != "h264":
                return None  # the upstream refuses it (browsers cannot play it over WebRTC)
            return self._pump(container, video)
        finally:
            try:
                container.close()
            except av.error.FFmpegError as exc:  # TEARDOWN to a dead camera: nothing to do
                log.debug("%s: close: %s", spec.camera_id, self.scrub(str(exc)))

    def _pump(self, container: InputContainer, video: VideoStream) -> BaseException | None:
        time_base = video.time_base
        last_ts = 0
        last_data_at = time.monotonic()
        while True:
            try:
                for packet in container.demux(video):
                    if self._stop.is_set():
                        return None
                    if not packet.size:  # the flush packet after the end
                        continue
                    last_data_at = time.monotonic()
                    if packet.pts is not None and time_base:
                        # RTSP streams run on the RTP clock (1/90000): what the native pull
                        # carries as the access unit's timestamp.
                        last_ts = int(packet.pts * time_base * 90000) & _TS_MASK
                    au = AccessUnit(bytes(packet), bool(packet.is_keyframe), last_ts)
                    if not self._post(self._deliver, au):
                        return None  # the loop is gone: nobody to feed
                return ConnectionError(self._where("the camera ended the stream"))
            except av.error.ExitError:
                pass  # our read slice ran out: see whether to stop or give up
            except av.error.FFmpegError as exc:
                return ConnectionError(self.describe(exc))
            if self._stop.is_set():
                return None
            idle = time.monotonic() - last_data_at
            if idle > self._read_timeout_s:
                return TimeoutError(self._where(f"no data from the camera for {idle:.0f} s"))

    def _post(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed (relay shut down): end quietly
            self._stop.set()
            return False
        return True

    # -- on the loop -----------------------------------------------------------------------

    def _set_opened(self, opened: PyavOpened) -> None:
        if not self.opened.done():
            self.opened.set_result(opened)

    def _deliver(self, au: AccessUnit) -> None:
        if self._delivering:
            self._on_frame(au)

    def _settle(self, reason: BaseException | None) -> None:
        if not self.opened.done():
            error = reason if isinstance(reason, PyavPullError) else None
            self.opened.set_exception(
                error or PyavPullError(self._where(f"{reason or 'stopped'} before playing"))
            )
        if not self.ended.done():
            self.ended.set_result(reason)

    def describe(self, exc: av.error.FFmpegError) -> str:
        return self.text.describe(exc)

    def _where(self, what: str) -> str:
        return self.text.where(what)

    def scrub(self, text: str) -> str:
        return self.text.scrub(text)


async def stop_and_join(pull: PyavPull, timeout_s: float) -> None:
    pull.stop()
    with contextlib.suppress(RuntimeError):  # the loop's default executor already shut down
        await pull.join(timeout_s)
