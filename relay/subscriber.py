"""One viewer's bounded queue of encoded frames: a slow viewer drops, nobody else waits.

The upstream offers every frame to every subscriber synchronously (no awaiting, so one viewer
can never hold up the fan-out). When a queue is full it is emptied and the viewer skips to the
next keyframe: dropping single frames of an H.264 stream would corrupt the picture until then
anyway, and memory stays bounded by `capacity` frames.
"""

from __future__ import annotations

import asyncio
from collections import deque

from relay.counters import RelayCounters
from relay.gop import EncodedFrame


class SubscriberClosedError(Exception):
    """The upstream went away for good (camera removed, relay stopping)."""


class Subscriber:
    def __init__(
        self,
        capacity: int,
        primed: list[EncodedFrame] | None = None,
        counters: RelayCounters | None = None,
    ) -> None:
        # The relay's totals (metrics); touched only when frames are dropped, never per frame.
        self.counters = counters or RelayCounters()
        self.capacity = max(capacity, len(primed or ()) + 1)
        self._queue: deque[EncodedFrame] = deque(primed or ())
        # Until a keyframe is queued nothing decodable can be sent.
        self._need_keyframe = not self._queue
        self._wakeup: asyncio.Future[None] | None = None
        self._closed = False
        self.delivered = 0
        self.dropped = 0  # frames thrown away because this viewer fell behind
        self.overflows = 0

    def offer(self, frame: EncodedFrame) -> None:
        if self._closed:
            return
        if self._need_keyframe:
            if not frame.keyframe:
                return
            self._need_keyframe = False
        if len(self._queue) >= self.capacity:
            self.overflows += 1
            lost = len(self._queue) + (not frame.keyframe)
            self.dropped += lost
            self.counters.dropped_overflow += lost
            self._queue.clear()
            if not frame.keyframe:
                self._need_keyframe = True
                return
        self._queue.append(frame)
        self._wake()

    def restart(self) -> None:
        """The upstream reconnected: what is queued belongs to a dead decoder state."""
        self.dropped += len(self._queue)
        self.counters.dropped_reconnect += len(self._queue)
        self._queue.clear()
        self._need_keyframe = True

    def close(self) -> None:
        self._closed = True
        # Frames left here are nobody's now; let them go with the last reference to them.
        self._queue.clear()
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> EncodedFrame:
        """The next queued frame; IndexError if none."""
        frame = self._queue.popleft()
        self.delivered += 1
        return frame

    async def get(self) -> EncodedFrame:
        while not self._queue:
            if self._closed:
                raise SubscriberClosedError
            self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None
        self.delivered += 1
        return self._queue.popleft()
