"""How a GB/T 28181 reader in another process reaches the SIP service: play and stop
requests over Redis (`sharpeye.bus.gb28181`), served by `sharpeye gb28181`
(`ingest.gb28181.remote`). The `PlaySignalling` shape `GbSource` takes in-process, plus
`keep()`: the reader refreshes its call's lease (a reader that dies stops refreshing, and
the service hangs its calls up) and learns from it when the service ended the call.

Here, in camera/, because every service that plays a GB channel asks the same way: the
ingest worker's readers (analytics, recording) and the relay's upstreams (the wall), each
with a call and a lease of its own, named by its node id.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Protocol

import redis

from camera.gb28181.invite import MediaAnswer, MediaOffer, PlayHandle
from camera.gb28181.source import GbPlayError, PlaySignalling
from sharpeye.bus.gb28181 import ask_play_sync, keep_call_sync, tell_stop_sync
from sharpeye.contracts.gb28181 import GbCallRole, GbPlayRequest

log = logging.getLogger(__name__)

LEASE_S = 10.0
_QUEUE_GRACE_S = 5.0  # beyond the INVITE's own timeout: the service may be busy a moment
_REDIS_DOWN = (redis.RedisError, OSError)


class GbSignalling(PlaySignalling, Protocol):
    def keep(self, handle: PlayHandle) -> None:
        """Called while playing: keep the call alive, end `handle` if the service did."""
        ...


class RedisSignalling:
    """Blocking, for reader threads; one per process (node), shared by its GB cameras."""

    def __init__(
        self, r: redis.Redis, node_id: str, lease_s: float = LEASE_S, role: GbCallRole = "ingest"
    ) -> None:
        self.redis = r
        self.node_id = node_id
        self.lease_s = lease_s
        self.role = role  # shown with the call: who holds the device's stream
        self._kept: dict[str, float] = {}  # call id -> when its lease was last refreshed

    def _request(self, op: str, device_id: str, channel_id: str, **more: object) -> GbPlayRequest:
        return GbPlayRequest.model_validate(
            {
                "request_id": os.urandom(8).hex(),
                "op": op,
                "node_id": self.node_id,
                "role": self.role,
                "device_id": device_id,
                "channel_id": channel_id,
                "lease_s": self.lease_s,
                **more,
            }
        )

    def start(
        self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
    ) -> PlayHandle:
        where = f"device {device_id} channel {channel_id}"
        wait_s = timeout_s + _QUEUE_GRACE_S
        request = self._request(
            "play",
            device_id,
            channel_id,
            transport=offer.transport,
            host=offer.host,
            port=offer.port,
            timeout_s=timeout_s,
            expires_at=time.time() + wait_s,
        )
        try:
            reply = ask_play_sync(self.redis, request, wait_s)
        except _REDIS_DOWN as exc:
            raise GbPlayError(f"{where}: cannot ask the GB28181 service (Redis: {exc})") from None
        if reply is None:
            raise GbPlayError(
                f"{where}: the GB28181 service did not answer in {wait_s:.0f} s "
                "(is `sharpeye gb28181` running?)"
            )
        if not reply.ok or reply.call_id is None:
            raise GbPlayError(reply.error or f"{where}: the GB28181 service refused")
        answer = MediaAnswer(
            reply.host, reply.port, reply.transport, reply.payload_type, reply.ssrc, reply.setup
        )
        self._kept[reply.call_id] = time.monotonic()
        return PlayHandle(reply.call_id, device_id, channel_id, answer)

    def keep(self, handle: PlayHandle) -> None:
        """Refresh the lease every third of it; mark the handle ended if the service ended
        the call (the reader's `GbSource` then stops with that reason)."""
        now = time.monotonic()
        if now - self._kept.get(handle.call_id, 0.0) < self.lease_s / 3:
            return
        self._kept[handle.call_id] = now
        try:
            ended = keep_call_sync(self.redis, handle.call_id, self.lease_s)
        except _REDIS_DOWN as exc:  # the stream goes on; the lease may lapse, then a BYE
            log.warning("gb28181: cannot refresh call %s (Redis: %s)", handle.call_id, exc)
            return
        if ended is not None and not handle.ended.is_set():
            handle.reason = ended
            handle.ended.set()

    def stop(self, handle: PlayHandle) -> None:
        self._kept.pop(handle.call_id, None)
        request = self._request(
            "stop",
            handle.device_id,
            handle.channel_id,
            call_id=handle.call_id,
            expires_at=time.time() + 30,
        )
        try:
            tell_stop_sync(self.redis, request)
        except _REDIS_DOWN as exc:  # the lease lapses instead: the BYE comes later
            log.warning("gb28181: cannot ask for the BYE of %s (Redis: %s)", handle.call_id, exc)
