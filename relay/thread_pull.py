"""A camera pull on a thread of its own, feeding the relay's loop.

FFmpeg's demuxer (`relay.pyav_pull`) and a GB/T 28181 call (`relay.gb_pull`) block in their
reads, so each such pull runs on a thread and hands every access unit to the loop with
`call_soon_threadsafe`. What they share is here: the `opened`/`ended` futures, stopping
(no frame is delivered after `stop()`, which runs on the loop), a bounded join so the
pull's goodbye (RTSP TEARDOWN, SIP BYE) goes out before the relay stops, and a bug in the
thread ending the pull visibly instead of hanging its upstream. A subclass says how to play
(`_play`, on the thread), what a crash is called (`_crashed`), and how an end before
playing reads (`_settle`, on the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from camera.rtsp.depacketize import AccessUnit
from relay.sources import SourceSpec

log = logging.getLogger(__name__)

Opened = TypeVar("Opened")


class ThreadedPull(Generic[Opened]):
    """One pull from open to end or `stop()`: `opened` resolves once the camera plays (or
    fails), `ended` with the exception that ended the pull (None after a stop). Frames go to
    `on_frame` on the loop, never after `stop()`."""

    def __init__(
        self,
        spec: SourceSpec,
        loop: asyncio.AbstractEventLoop,
        on_frame: Callable[[AccessUnit], None],
        thread_name: str,
    ) -> None:
        self._spec = spec
        self._loop = loop
        self._on_frame = on_frame
        self.opened: asyncio.Future[Opened] = loop.create_future()
        self.ended: asyncio.Future[BaseException | None] = loop.create_future()
        self._stop = threading.Event()
        self._delivering = True  # loop side: cleared by stop(), so no frame lands after it
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (a read notices within its slice). Call on the loop."""
        self._delivering = False
        self._stop.set()

    async def join(self, timeout_s: float) -> None:
        """Wait (bounded) for the thread, so its goodbye goes out before the relay stops."""
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout_s)

    # -- the thread ----------------------------------------------------------------------

    def _play(self) -> BaseException | None:
        """Open and read until stopped; the exception that ended it, None after a stop."""
        raise NotImplementedError

    def _crashed(self, exc: Exception) -> BaseException:
        """What the upstream is told when `_play` raised (a bug); logs it."""
        raise NotImplementedError

    def _run(self) -> None:
        reason: BaseException | None = None
        try:
            reason = self._play()
        except Exception as exc:  # a bug must end this pull visibly, not hang the upstream
            reason = self._crashed(exc)
        if not self._post(self._settle, reason):
            log.debug("%s: %s ended after the loop closed", self._spec.camera_id, self._thread.name)

    def _post(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed (relay shut down): end quietly
            self._stop.set()
            return False
        return True

    # -- on the loop -----------------------------------------------------------------------

    def _set_opened(self, opened: Opened) -> None:
        if not self.opened.done():
            self.opened.set_result(opened)

    def _deliver(self, au: AccessUnit) -> None:
        if self._delivering:
            self._on_frame(au)

    def _settle(self, reason: BaseException | None) -> None:
        """Resolve the futures: `opened` with an error when it ended before playing."""
        raise NotImplementedError


async def stop_and_join(pull: ThreadedPull[Any], timeout_s: float) -> None:
    pull.stop()
    with contextlib.suppress(RuntimeError):  # the loop's default executor already shut down
        await pull.join(timeout_s)
