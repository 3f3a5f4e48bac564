"""Live video for readers in other processes: the ingest worker's GB reader and the relay's
GB upstream ask over Redis (`sharpeye.bus.gb28181`: a request list, a reply key per
request) and this INVITEs on their behalf through the service's `Player`, as
`InProcessSignalling` does for threads here.

Each remote call is held while its reader refreshes the call's lease: a worker that dies or
loses Redis stops refreshing, and its calls are hung up (BYE) within a lease, so a device is
never left streaming to nobody. A call that ends here first (the device's BYE, the device
unregistering, the service stopping) leaves its reason on Redis for the reader, which
reports it as the camera's reason.

Each call open is also recorded on Redis (`GbCall`: channel, reader node and role, since
when) for `sharpeye gb28181 status` and the API, and removed when it ends; a record left by
a service that stopped is recognised by its lapsed lease, and removed when one starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import redis
import redis.asyncio

from camera.gb28181.invite import MediaOffer, PlayHandle
from camera.gb28181.source import GbPlayError
from ingest.gb28181.play import Player
from sharpeye.bus.gb28181 import (
    forget_call,
    forget_dead_calls,
    leases_alive,
    mark_ended,
    next_play_request,
    send_play_reply,
    start_lease,
    write_call,
)
from sharpeye.contracts.gb28181 import GbCall, GbPlayReply, GbPlayRequest

log = logging.getLogger(__name__)

SWEEP_S = 1.0  # how often leases and ended calls are looked at
_REDIS_DOWN = (redis.RedisError, OSError)


@dataclass
class _Call:
    handle: PlayHandle
    node_id: str


class RemotePlay:
    """Serves play/stop requests from Redis until cancelled."""

    def __init__(self, player: Player, r: redis.asyncio.Redis) -> None:
        self.player = player
        self.redis = r
        self.calls: dict[str, _Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_sweep = 0.0

    async def run(self) -> None:
        try:
            removed = await forget_dead_calls(self.redis)
            if removed:
                log.info("gb28181: %d calls left by a previous run forgotten", removed)
        except _REDIS_DOWN as exc:
            log.warning("gb28181: cannot tidy the calls on Redis: %s", exc)
        try:
            while True:
                try:
                    request = await next_play_request(self.redis, SWEEP_S)
                    if request is not None:
                        task = asyncio.ensure_future(self._handle(request))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                    if time.monotonic() >= self._next_sweep:
                        self._next_sweep = time.monotonic() + SWEEP_S
                        await self.sweep()
                except _REDIS_DOWN as exc:
                    log.warning("gb28181: play requests unreadable (Redis: %s); retrying", exc)
                    await asyncio.sleep(SWEEP_S)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _handle(self, request: GbPlayRequest) -> None:
        if request.op == "stop":
            call = self.calls.pop(request.call_id or "", None)
            if call is not None:
                await self._forget(call.handle.call_id)
                await self.player.stop(call.handle)
            return
        if time.time() > request.expires_at:
            log.info(
                "gb28181: play request for device %s channel %s from %s expired in the queue",
                request.device_id,
                request.channel_id,
                request.node_id,
            )
            return
        offer = MediaOffer(request.transport, request.host, request.port)
        try:
            handle = await self.player.play(
                request.device_id, request.channel_id, offer, request.timeout_s
            )
        except GbPlayError as exc:
            await self._reply(
                request, GbPlayReply(request_id=request.request_id, ok=False, error=str(exc))
            )
            return
        a = handle.answer
        self.calls[handle.call_id] = _Call(handle, request.node_id)
        reply = GbPlayReply(
            request_id=request.request_id,
            ok=True,
            call_id=handle.call_id,
            host=a.host,
            port=a.port,
            transport=a.transport,
            payload_type=a.payload_type,
            ssrc=a.ssrc,
            setup=a.setup,
        )
        record = GbCall(
            call_id=handle.call_id,
            device_id=request.device_id,
            channel_id=request.channel_id,
            node_id=request.node_id,
            role=request.role,
            transport=a.transport,
            since=time.time(),
        )
        try:
            await start_lease(self.redis, handle.call_id, request.lease_s)
            await write_call(self.redis, record)
            await send_play_reply(self.redis, request.node_id, reply)
        except _REDIS_DOWN as exc:  # the reader cannot learn of the call: end it now
            log.warning(
                "gb28181: cannot answer %s's play request (Redis: %s)", request.node_id, exc
            )
            self.calls.pop(handle.call_id, None)
            await self._forget(handle.call_id)
            await self.player.stop(handle, "the reader could not be answered")

    async def _forget(self, call_id: str) -> None:
        try:
            await forget_call(self.redis, call_id)
        except _REDIS_DOWN as exc:  # its lease lapses too: readers of the list skip it
            log.warning("gb28181: cannot remove call %s from Redis: %s", call_id, exc)

    async def _reply(self, request: GbPlayRequest, reply: GbPlayReply) -> None:
        try:
            await send_play_reply(self.redis, request.node_id, reply)
        except _REDIS_DOWN as exc:
            log.warning(
                "gb28181: cannot answer %s's play request (Redis: %s)", request.node_id, exc
            )

    async def sweep(self) -> None:
        """Hang up calls whose reader stopped refreshing; tell readers of calls that ended."""
        for call_id, call in list(self.calls.items()):
            if call.handle.ended.is_set():
                self.calls.pop(call_id, None)
                await mark_ended(self.redis, call_id, call.handle.reason or "the call ended")
        ids = list(self.calls)
        if not ids:
            return
        for call_id, alive in zip(ids, await leases_alive(self.redis, ids), strict=True):
            lapsed = None if alive else self.calls.pop(call_id, None)
            if lapsed is None:
                continue
            log.info(
                "gb28181: the reader on %s stopped keeping device %s channel %s; hanging up",
                lapsed.node_id,
                lapsed.handle.device_id,
                lapsed.handle.channel_id,
            )
            await self._forget(call_id)
            await self.player.stop(lapsed.handle, "the reader's lease lapsed")
