"""A camera pulled through FFmpeg (PyAV) for the relay: H.264 passed through, never decoded.

For the cameras our own client cannot read (RTP over UDP only, answers beyond our parser),
chosen like ingest chooses (`ingest: {reader: pyav}`, or `auto` after the native client's
`RtspIncompatibleError`). Opening and reading are `camera.ffmpeg_source.FfmpegSource`'s, the
reader ingest's FFmpeg fallback uses too: it yields the `AccessUnit`s the native
depacketizer produces, so the upstream treats both pulls the same (parameter sets on
keyframes, GOP cache, packer). FFmpeg's demuxer blocks in its reads, so each such pull has a
thread; it hands every access unit to the relay's loop (`call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from camera.ffmpeg_source import (
    FfmpegOpened,
    FfmpegOpenError,
    FfmpegSource,
    FfmpegStreamError,
)
from camera.rtsp.depacketize import AccessUnit
from relay.sources import SourceSpec
from relay.thread_pull import ThreadedPull

log = logging.getLogger(__name__)


class PyavPull(ThreadedPull[FfmpegOpened]):
    """One FFmpeg session on its own thread (`relay.thread_pull`): `opened` fails with
    FfmpegOpenError; a stop is noticed by a blocked read within SLICE_S, by an open within
    the open timeout; its TEARDOWN goes out before the relay stops."""

    def __init__(
        self,
        spec: SourceSpec,
        loop: asyncio.AbstractEventLoop,
        on_frame: Callable[[AccessUnit], None],
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        # camera/'s spec: FFmpeg's URL, options and redaction come from it
        name = f"relay-pyav-{spec.camera_id}-{spec.stream}"
        super().__init__(spec, loop, on_frame, name)
        self._source = FfmpegSource(spec, "through FFmpeg", open_timeout_s, read_timeout_s)

    # -- the thread ----------------------------------------------------------------------

    def _crashed(self, exc: Exception) -> BaseException:
        text = self._source.text
        log.error("%s: FFmpeg pull failed: %s", self._spec.camera_id, text.scrub(repr(exc)))
        return ConnectionError(text.where(f"unexpected {type(exc).__name__}"))

    def _play(self) -> BaseException | None:
        source = self._source
        try:
            opened = source.open()
        except FfmpegOpenError as exc:
            return exc
        try:
            self._post(self._set_opened, opened)
            if opened.codec != "h264":
                return None  # the upstream refuses it (browsers cannot play it over WebRTC)
            for au in source.units(self._stop.is_set):
                if au is not None and not self._post(self._deliver, au):
                    return None  # the loop is gone: nobody to feed
            return None  # stopped
        except FfmpegStreamError as exc:  # a ConnectionError (a TimeoutError when silent)
            return exc
        finally:
            source.close()

    # -- on the loop -----------------------------------------------------------------------

    def _settle(self, reason: BaseException | None) -> None:
        if not self.opened.done():
            error = reason if isinstance(reason, FfmpegOpenError) else None
            what = f"{reason or 'stopped'} before playing"
            self.opened.set_exception(error or FfmpegOpenError(self._source.text.where(what)))
        if not self.ended.done():
            self.ended.set_result(reason)
