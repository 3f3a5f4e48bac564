"""Camera ownership across ingest workers: leases in Redis, an even share per live worker.

Every worker heartbeats into a sorted set; each takes at most ceil(cameras / live workers)
camera leases (SET NX PX), renews what it holds every cycle and releases any excess, so a
new worker gets its share and a dead worker's cameras are taken over once its leases
expire. A lease is only renewed or released by its holder (checked atomically in Lua).

While Redis cannot be reached nothing can be renewed, so `lapse` decides what a worker may
go on reading: see there. A lease found missing when Redis answers again (it expired, or a
restarted Redis lost it) is taken back by the worker that still reads the camera, if nobody
else took it meanwhile, so an outage does not restart that camera's session.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import redis.asyncio

NODES_KEY = "sharpeye:ingest:nodes"
LEASE_PREFIX = "sharpeye:lease:camera:"

_RENEW = """
local held = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[#held + 1] = key
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    held[#held + 1] = key
  end
end
return held
"""
_RELEASE = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
"""


class Leases:
    def __init__(self, r: redis.asyncio.Redis, node_id: str, ttl_s: float = 10.0) -> None:
        self.r = r
        self.node_id = node_id
        self.ttl_ms = int(ttl_s * 1000)
        self.held: set[str] = set()
        # As of the last sync that reached Redis: how many workers shared the cameras, and
        # when (monotonic, taken before the renewal was sent) our leases were last renewed.
        self.workers = 1
        self.renewed_at = time.monotonic()
        self._renew = r.register_script(_RENEW)
        self._release = r.register_script(_RELEASE)

    async def live_workers(self) -> int:
        """Heartbeat, forget workers silent for a lease TTL, and count the live ones."""
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(NODES_KEY, {self.node_id: now})
        pipe.zremrangebyscore(NODES_KEY, "-inf", now - self.ttl_ms / 1000)
        pipe.zcard(NODES_KEY)
        *_, count = await pipe.execute()
        return max(1, int(count))

    async def sync(self, camera_ids: Iterable[str]) -> set[str]:
        """Renew, release excess, acquire up to our share; returns the cameras we hold."""
        started = time.monotonic()
        candidates = sorted(set(camera_ids))
        self.workers = await self.live_workers()
        share = math.ceil(len(candidates) / self.workers) if candidates else 0
        keep = [c for c in self.held if c in set(candidates)]
        renewed = await self._renew(keys=[_key(c) for c in keep], args=[self.node_id, self.ttl_ms])
        held = {_decode(k)[len(LEASE_PREFIX) :] for k in renewed}
        if len(held) > share:
            excess = sorted(held)[share:]
            await self._release(keys=[_key(c) for c in excess], args=[self.node_id])
            held -= set(excess)
        if len(held) < share:
            free = [c for c in candidates if c not in held]
            owners = await self.r.mget([_key(c) for c in free]) if free else []
            want = [c for c, o in zip(free, owners, strict=True) if o is None]
            pipe = self.r.pipeline(transaction=False)
            for c in want[: share - len(held)]:
                pipe.set(_key(c), self.node_id, nx=True, px=self.ttl_ms)
            results = await pipe.execute()
            held |= {c for c, ok in zip(want, results, strict=False) if ok}
        self.held = held
        self.renewed_at = started
        return set(held)

    def lapse(self) -> set[str]:
        """The cameras we may keep reading while Redis is unreachable (`sync` failed).

        With other workers alive, our leases expire `ttl` after the last renewal and one of
        them may then take our cameras (Redis may be unreachable from us only): we give them
        up at half the TTL, leaving the other half as margin for a slow loop, rather than
        have two workers pull one camera. Alone (the last sync counted one live worker)
        nobody can take over, so we keep reading through the outage; a worker started
        meanwhile is sorted out by the first `sync` once Redis answers (a lease it took is
        not ours to renew, so we drop that camera).
        """
        if self.workers > 1 and time.monotonic() - self.renewed_at >= self.ttl_ms / 2000:
            self.held = set()
        return set(self.held)

    async def release_all(self) -> None:
        if self.held:
            await self._release(keys=[_key(c) for c in self.held], args=[self.node_id])
        await self.r.zrem(NODES_KEY, self.node_id)
        self.held = set()


def _key(camera_id: str) -> str:
    return LEASE_PREFIX + camera_id


def _decode(k: bytes | str) -> str:
    return k.decode() if isinstance(k, bytes) else k
