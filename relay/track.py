"""The media track one WHEP viewer's RTP sender pulls: encoded frames, never decoded.

aiortc packs an `av.Packet` it gets from `recv()` straight into RTP (H.264 passthrough).
The track subscribes to its upstream only when the sender first asks for a frame (the peer
connection is up): frames queued for a viewer still doing ICE would be stale by then.
"""

from __future__ import annotations

import time
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from relay.gop import EncodedFrame
from relay.packer import packet
from relay.subscriber import Subscriber, SubscriberClosedError
from relay.upstream import Upstream


class ViewerTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, upstream: Upstream, capacity: int) -> None:
        super().__init__()
        self.upstream = upstream
        self.capacity = capacity
        self.subscriber: Subscriber | None = None
        self.subscribed_at: float | None = None
        # The first frame sent: a late joiner's comes from the GOP cache, not the future.
        self.first_frame: EncodedFrame | None = None

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self.subscriber is None:
            self.subscribed_at = time.monotonic()
            self.subscriber = self.upstream.subscribe(self.capacity)
        try:
            frame = await self.subscriber.get()
        except SubscriberClosedError:
            self.stop()
            raise MediaStreamError from None
        if self.first_frame is None:
            self.first_frame = frame
        return packet(frame)

    def stop(self) -> None:
        if self.subscriber is not None:
            self.upstream.unsubscribe(self.subscriber)
        super().stop()
