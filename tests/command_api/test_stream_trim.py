"""The events stream keeps only what a consumer group still owes, plus a short history:
on a real Redis, with groups that lag, entries pending on a dead consumer, and none."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from command_api.alarms.stream_trim import trim_consumed
from sharpeye.contracts.events import EVENTS_STREAM
from tests.command_api.harness import NOON, event, harness

STREAM = "test:trim:events"


def _fire(i: int) -> dict[str, str]:
    e = event("fire", "forest-lookout-1", at=NOON + i, score=0.9, dedupe_key=f"fire:{i}")
    return e.to_stream_fields()


async def _stream(r: redis.asyncio.Redis, n: int) -> list[str]:
    await r.delete(STREAM)
    # Ids in the past (ms 1000..), so the history window never keeps them.
    return [
        f"{1000 + i}-0" for i in range(n) if await r.xadd(STREAM, {"i": str(i)}, id=f"{1000 + i}-0")
    ]


@pytest.mark.parametrize("decode", [True, False])  # the API's clients answer in bytes
async def test_acknowledged_entries_go_pending_and_undelivered_stay(
    redis_url: str, decode: bool
) -> None:
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=decode)
    ids = await _stream(r, 10)
    await r.xgroup_create(STREAM, "g", id="0")
    got: Any = await r.xreadgroup("g", "c", {STREAM: ">"}, count=6)
    await r.xack(STREAM, "g", *[i for i, _ in got[0][1][:4]])  # 4 done, 2 pending, 4 unread
    assert await trim_consumed(r, STREAM, keep_ms=0) == 4
    entries: Any = await r.xrange(STREAM)
    left = [i.decode() if isinstance(i, bytes) else i for i, _ in entries]
    assert left == ids[4:]
    # A second group that has read nothing holds everything that is left.
    await r.xgroup_create(STREAM, "late", id="0")
    assert await trim_consumed(r, STREAM, keep_ms=0) == 0
    await r.aclose()


async def test_everything_acknowledged_is_kept_for_the_history_window(redis_url: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    await r.delete(STREAM)
    await r.xgroup_create(STREAM, "g", id="0", mkstream=True)
    old = [await r.xadd(STREAM, {"i": str(i)}, id=f"{1000 + i}-0") for i in range(3)]
    recent = [await r.xadd(STREAM, {"i": str(i)}) for i in range(3)]  # now, by Redis's clock
    got: Any = await r.xreadgroup("g", "c", {STREAM: ">"}, count=10)
    await r.xack(STREAM, "g", *[i for i, _ in got[0][1]])
    assert await trim_consumed(r, STREAM, keep_ms=60_000) == len(old)
    entries: Any = await r.xrange(STREAM)
    assert [i for i, _ in entries] == recent
    await r.aclose()


async def test_a_stream_without_groups_is_left_to_the_producers_cap(redis_url: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    await _stream(r, 5)
    assert await trim_consumed(r, STREAM, keep_ms=0) == 0
    await r.delete("test:trim:none")
    assert await trim_consumed(r, "test:trim:none", keep_ms=0) == 0
    assert await r.xlen(STREAM) == 5
    await r.aclose()


async def test_the_api_trims_what_it_has_stored(tmp_path: Path, redis_url: str) -> None:
    # The producers' cap was the only trim: Redis held every event until a million piled up.
    async with harness(tmp_path, redis_url, events_keep_ms=0) as api:
        admin = await api.login("admin")
        for i in range(5):
            await api.redis.xadd(EVENTS_STREAM, _fire(i))  # type: ignore[arg-type]
        for _ in range(1000):  # hang guard
            alarms = (await api.client.get("/api/alarms", headers=admin)).json()
            if len(alarms) == 5 and await api.redis.xlen(EVENTS_STREAM) == 0:
                break
            await asyncio.sleep(0.02)
        assert len(alarms) == 5
        assert await api.redis.xlen(EVENTS_STREAM) == 0
