"""Trim the events stream to what is still owed: entries every consumer group has
acknowledged, older than a short history window, are removed.

Producers cap the stream at `EVENTS_STREAM_MAXLEN` (about 80 minutes of a district's
events, to ride out an API that is down). With the API up, that cap was the only trim, so
Redis held every event ever sent until a million had piled up: a shift measured Redis
growing 1.25 MB an hour, all of it this stream. The consumer knows what is safe to drop:
anything before the oldest entry any group still has pending or has not yet been given.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.exceptions import ResponseError

# Acknowledged events kept for a look with XRANGE after an incident (minutes, not hours:
# the alarms they raised are in the store).
KEEP_MS = 10 * 60 * 1000


def _id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def owed_from(r: redis.asyncio.Redis, stream: str) -> tuple[int, int] | None:
    """The oldest entry id some group may still need (pending, or not yet delivered); None
    when the stream has no group (then nothing says what is safe: the producers' cap rules)."""
    try:
        groups: list[dict[str, Any]] = await r.xinfo_groups(stream)
    except ResponseError:  # no such stream yet
        return None
    if not groups:
        return None
    owed: list[tuple[int, int]] = []
    for g in groups:
        ms, seq = _id(g["last-delivered-id"])
        # Entries after the last delivered one are owed to this group (MINID keeps ids at or
        # above the cut, so the cut is the next possible id).
        owed.append((ms, seq + 1))
        if int(g["pending"]):
            summary: dict[str, Any] = await r.xpending(stream, g["name"])
            if summary.get("min") is not None:
                owed.append(_id(summary["min"]))
    return min(owed)


async def trim_consumed(r: redis.asyncio.Redis, stream: str, keep_ms: int = KEEP_MS) -> int:
    """Remove the entries every group has acknowledged that are older than keep_ms (by
    Redis's clock, which made the ids); returns how many went."""
    owed = await owed_from(r, stream)
    if owed is None:
        return 0
    seconds, micros = await r.time()
    horizon = (seconds * 1000 + micros // 1000 - keep_ms, 0)
    cut = min(owed, horizon)
    if cut <= (0, 0):
        return 0
    removed: int = await r.xtrim(stream, minid=f"{cut[0]}-{cut[1]}", approximate=False)
    return removed
