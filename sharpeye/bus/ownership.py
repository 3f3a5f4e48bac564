"""Reading camera ownership from Redis: the ingest workers' heartbeats and their fenced
camera leases (written by `ingest.leases`; key names in `sharpeye.bus.fencing`).

One pipeline whatever the camera count, with Redis's own clock for every age, so the view
does not depend on the clock of the machine that asks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio

from sharpeye.bus.fencing import fence_key, lease_key
from sharpeye.contracts.ownership import CameraLease, Ownership, WorkerLoad

NODES_KEY = "sharpeye:ingest:nodes"  # worker → unix time of its last lease sync
# A worker silent this long has lost its leases (the default lease TTL, SHARPEYE_LEASE_TTL_S),
# whatever the sorted set says.
HEARTBEAT_STALE_S = 8.0


async def read_ownership(r: redis.asyncio.Redis, camera_ids: Sequence[str]) -> Ownership:
    pipe = r.pipeline(transaction=False)
    _queue(pipe, camera_ids)
    return _build(camera_ids, await pipe.execute())


def read_ownership_sync(r: redis.Redis, camera_ids: Sequence[str]) -> Ownership:
    pipe = r.pipeline(transaction=False)
    _queue(pipe, camera_ids)
    return _build(camera_ids, pipe.execute())


def _queue(pipe: Any, camera_ids: Sequence[str]) -> None:
    pipe.time()
    pipe.zrange(NODES_KEY, 0, -1, withscores=True)
    for c in camera_ids:
        pipe.get(lease_key(c))
        pipe.pttl(lease_key(c))
        pipe.hgetall(fence_key(c))


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _build(camera_ids: Sequence[str], replies: list[Any]) -> Ownership:
    (secs, micros), nodes, *per_camera = replies
    now = int(secs) + int(micros) / 1e6
    beats = {_text(n): float(t) for n, t in nodes}
    cameras: list[CameraLease] = []
    for i, c in enumerate(camera_ids):
        value, pttl, fence = per_camera[3 * i : 3 * i + 3]
        fence = {_text(k): _text(v) for k, v in (fence or {}).items()}
        if value is None:
            cameras.append(CameraLease(camera_id=c))
            continue
        worker, _, token_text = _text(value).rpartition("|")
        token = int(token_text) if token_text.isdigit() else None
        since = fence.get(f"at:{token}")
        cameras.append(
            CameraLease(
                camera_id=c,
                worker=worker,
                token=token,
                expires_in_s=round(int(pttl) / 1000, 3) if int(pttl) >= 0 else None,
                held_for_s=round(max(0.0, now - int(since) / 1000), 3) if since else None,
            )
        )
    held = Counter(lease.worker for lease in cameras if lease.worker is not None)
    total = sum(held.values())
    workers = [
        WorkerLoad(
            node_id=w,
            heartbeat_age_s=round(max(0.0, now - beats[w]), 3) if w in beats else None,
            cameras=held.get(w, 0),
            share=round(held.get(w, 0) / total, 4) if total else 0.0,
        )
        for w in sorted(set(beats) | set(held))
    ]
    live = {
        w.node_id
        for w in workers
        if w.heartbeat_age_s is not None and w.heartbeat_age_s < HEARTBEAT_STALE_S
    }
    return Ownership(
        workers=workers,
        cameras=cameras,
        unowned=[x.camera_id for x in cameras if x.worker is None],
        orphaned=[x.camera_id for x in cameras if x.worker is not None and x.worker not in live],
    )
