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
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from camera.ffmpeg_source import (
    FfmpegOpened,
    FfmpegOpenError,
    FfmpegSource,
    FfmpegStreamError,
)
from camera.rtsp.depacketize import AccessUnit
from relay.sources import SourceSpec

log = logging.getLogger(__name__)


class PyavPull:
    """One FFmpeg session on its own thread, from open to end or `stop()`.

    `opened` resolves once the camera plays (or fails with FfmpegOpenError); `ended` resolves
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
        self._source = FfmpegSource(spec, "through FFmpeg", open_timeout_s, read_timeout_s)
        self.opened: asyncio.Future[FfmpegOpened] = loop.create_future()
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
            text = self._source.text
            reason = ConnectionError(text.where(f"unexpected {type(exc).__name__}"))
            log.error("%s: FFmpeg pull failed: %s", self._spec.camera_id, text.scrub(repr(exc)))
        if not self._post(self._settle, reason):
            log.debug("%s: FFmpeg pull ended after the loop closed", self._spec.camera_id)

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

    def _post(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed (relay shut down): end quietly
            self._stop.set()
            return False
        return True

    # -- on the loop -----------------------------------------------------------------------

    def _set_opened(self, opened: FfmpegOpened) -> None:
        if not self.opened.done():
            self.opened.set_result(opened)

    def _deliver(self, au: AccessUnit) -> None:
        if self._delivering:
            self._on_frame(au)

    def _settle(self, reason: BaseException | None) -> None:
        if not self.opened.done():
            error = reason if isinstance(reason, FfmpegOpenError) else None
            what = f"{reason or 'stopped'} before playing"
            self.opened.set_exception(error or FfmpegOpenError(self._source.text.where(what)))
        if not self.ended.done():
            self.ended.set_result(reason)


class ThreadedPull(Protocol):
    """A pull on a thread of its own (FFmpeg's here, GB/T 28181's in `relay.gb_pull`)."""

    def stop(self) -> None: ...

    async def join(self, timeout_s: float) -> None: ...


async def stop_and_join(pull: ThreadedPull, timeout_s: float) -> None:
    pull.stop()
    with contextlib.suppress(RuntimeError):  # the loop's default executor already shut down
        await pull.join(timeout_s)
