"""Fencing tokens of camera leases, read where a worker's writes land.

Ingest workers lease cameras (`ingest.leases`). Each time a camera's lease is taken its token
goes up by one, and Redis records when, in its own clock: `sharpeye:fence:{camera}` holds
`token` and `at:<token>` (milliseconds). What a worker writes for a camera carries the token
it held; a write about camera-time at or after the moment the next token was issued comes
from a worker whose lease had passed on (it stalled, was frozen or cut off), and is refused.

Keys carry the camera in a hash tag (`{camera}`), so a lease and its fence share a Redis
Cluster slot and the lease scripts touch one slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio


def lease_key(camera_id: str) -> str:
    return f"sharpeye:lease:{{{camera_id}}}"


def fence_key(camera_id: str) -> str:
    return f"sharpeye:fence:{{{camera_id}}}"


Write = tuple[str, int, float]  # camera, lease token, camera-time (unix seconds)


async def fenced_out(r: redis.asyncio.Redis, writes: Iterable[Write]) -> set[Write]:
    """Which (camera, token, camera-time in unix seconds) writes came from a worker whose
    lease had passed on: the next token was issued at or before that time. One round trip.

    Camera-time is the producing worker's clock and the handover time Redis's: nodes keep
    NTP time, and a skew only moves the boundary by that much."""
    pending = sorted(set(writes))
    if not pending:
        return set()
    pipe = r.pipeline(transaction=False)
    for camera_id, token, _ in pending:
        pipe.hget(fence_key(camera_id), f"at:{token + 1}")
    return _late(pending, await pipe.execute())


def fenced_out_sync(r: redis.Redis, writes: Iterable[Write]) -> set[Write]:
    """`fenced_out` for blocking clients (the analytics publisher's thread)."""
    pending = sorted(set(writes))
    if not pending:
        return set()
    pipe = r.pipeline(transaction=False)
    for camera_id, token, _ in pending:
        pipe.hget(fence_key(camera_id), f"at:{token + 1}")
    return _late(pending, pipe.execute())


def _late(pending: list[Write], handed: list[Any]) -> set[Write]:
    late = zip(pending, handed, strict=True)
    return {w for w, at in late if at is not None and w[2] * 1000 >= int(at)}
