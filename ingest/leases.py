"""Camera ownership across ingest workers: fenced leases in Redis, assigned by rendezvous
hashing over the live workers.

Every worker heartbeats into a sorted set. Each camera belongs to the live worker with the
highest rendezvous score for it (`owner_of`): every worker computes the same answer from the
same list, and a worker joining or leaving moves only the cameras it wins or held (about
1/N), not a reshuffle. A worker leases the cameras it wins (SET NX PX), renews what it holds
every cycle and releases what it no longer wins, so the winner can take it.

Fencing (`sharpeye.bus.fencing`): each time a camera's lease is taken its token goes up by
one and Redis records when; what a worker writes for a camera carries the token it held, and
a write from after the lease passed on is refused where it lands, so a worker that stalled or
was cut off past its lease cannot speak for a camera another worker now reads.

While Redis cannot be reached nothing can be renewed, so `lapse` decides what a worker may
go on reading: see there. A lease found missing when Redis answers again (it expired, or a
restarted Redis lost it) is taken back by the worker that still reads the camera, if it still
wins it and nobody else took it meanwhile, so an outage does not restart that camera.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping

import redis.asyncio

from sharpeye.bus.fencing import fence_key, lease_key
from sharpeye.bus.ownership import NODES_KEY

FENCE_HISTORY = 16  # handover times kept per camera: enough for any write still in flight

# KEYS: lease, fence. ARGV: node, ttl ms. Returns the token held (0: another worker's).
_TAKE = """
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if sep and string.sub(v, 1, sep - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(v, sep + 1))
  end
  return 0
end
local t = redis.call('HINCRBY', KEYS[2], 'token', 1)
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[2], 'at:' .. t, ms)
redis.call('HDEL', KEYS[2], 'at:' .. (t - ARGV[3]))
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'PX', ARGV[2])
return t
"""
# KEYS: lease. ARGV: node. Deletes the lease only if it is ours.
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def owner_of(camera_id: str, workers: Iterable[str]) -> str | None:
    """The worker a camera belongs to: the highest rendezvous score (same on every worker)."""
    return max(workers, key=lambda w: (_score(w, camera_id), w), default=None)


def _score(worker: str, camera_id: str) -> int:
    digest = hashlib.blake2b(f"{worker}\0{camera_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


async def lease_holder(r: redis.asyncio.Redis, camera_id: str) -> tuple[str, int] | None:
    """(worker, token) of a camera's lease, or None when nobody holds it."""
    raw = await r.get(lease_key(camera_id))
    if raw is None:
        return None
    node, _, token = (raw.decode() if isinstance(raw, bytes) else str(raw)).rpartition("|")
    return node, int(token)


class Leases:
    def __init__(self, r: redis.asyncio.Redis, node_id: str, ttl_s: float = 8.0) -> None:
        if "|" in node_id:
            raise ValueError(f"node id {node_id!r}: '|' separates the node from its token")
        self.r = r
        self.node_id = node_id
        self.ttl_ms = int(ttl_s * 1000)
        self.held: set[str] = set()
        # camera → the fencing token of our lease; kept after the lease is lost, so what was
        # seen while we held it is still stamped with the token it was seen under.
        self.tokens: dict[str, int] = {}
        # As of the last sync that reached Redis: how many workers shared the cameras, and
        # when (monotonic, taken before the renewal was sent) our leases were last renewed.
        self.workers = 1
        self.renewed_at = time.monotonic()
        self._take = r.register_script(_TAKE)
        self._release = r.register_script(_RELEASE)

    async def live_workers(self) -> list[str]:
        """Heartbeat, forget workers silent for a lease TTL, and list the live ones."""
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(NODES_KEY, {self.node_id: now})
        pipe.zremrangebyscore(NODES_KEY, "-inf", now - self.ttl_ms / 1000)
        pipe.zrange(NODES_KEY, 0, -1)
        *_, members = await pipe.execute()
        workers = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
        return sorted(workers | {self.node_id})

    async def sync(self, camera_ids: Iterable[str]) -> set[str]:
        """Release what we no longer win, renew or take what we win; returns what we hold."""
        started = time.monotonic()
        candidates = sorted(set(camera_ids))
        workers = await self.live_workers()
        self.workers = len(workers)
        mine = [c for c in candidates if owner_of(c, workers) == self.node_id]
        gone = sorted(self.held - set(mine))
        pipe = self.r.pipeline(transaction=False)
        for c in gone:
            await self._release(keys=[lease_key(c)], args=[self.node_id], client=pipe)
        for c in mine:
            await self._take(
                keys=[lease_key(c), fence_key(c)],
                args=[self.node_id, self.ttl_ms, FENCE_HISTORY],
                client=pipe,
            )
        results = await pipe.execute()
        taken = results[len(gone) :]
        held = {c for c, token in zip(mine, taken, strict=True) if int(token) > 0}
        for c, token in zip(mine, taken, strict=True):
            if int(token) > 0:
                self.tokens[c] = int(token)
        for c in set(self.tokens) - set(candidates):
            del self.tokens[c]  # removed from the registry: nothing more to stamp
        self.held = held
        self.renewed_at = started
        return set(held)

    def token(self, camera_id: str) -> int | None:
        """The fencing token to stamp on what we write for this camera (the last we held)."""
        return self.tokens.get(camera_id)

    def fences(self) -> Mapping[str, int]:
        return dict(self.tokens)

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
        pipe = self.r.pipeline(transaction=False)
        for c in sorted(self.held):
            await self._release(keys=[lease_key(c)], args=[self.node_id], client=pipe)
        pipe.zrem(NODES_KEY, self.node_id)
        await pipe.execute()
        self.held = set()
