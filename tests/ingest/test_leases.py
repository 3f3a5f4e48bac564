"""Camera ownership with fencing, against a real Redis: rendezvous assignment (each camera
once, a join moves about 1/N), tokens that go up on every handover, and a worker whose lease
passed on refused where its writes land (health here; events in
tests/command_api/test_alarms.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from ingest.leases import Leases, owner_of
from sharpeye.bus.fencing import fence_key, fenced_out, lease_key
from sharpeye.bus.health import publish_health, read_health
from sharpeye.contracts.health import CameraHealth, CameraState

pytestmark = pytest.mark.integration

CAMERAS = [f"cam-{i:03d}" for i in range(400)]


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _holders(r: redis.asyncio.Redis, cameras: list[str]) -> dict[str, str]:
    values = await r.mget([lease_key(c) for c in cameras])
    return {c: str(v).rpartition("|")[0] for c, v in zip(cameras, values, strict=True) if v}


async def _settle(workers: list[Leases], rounds: int = 3) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}
    for _ in range(rounds):  # one round to hear every heartbeat, one to release, one to take
        for w in workers:
            held[w.node_id] = await w.sync(CAMERAS)
    return held


def test_rendezvous_gives_each_camera_one_owner_and_a_join_moves_few() -> None:
    four = [f"node-{i}" for i in range(4)]
    before = {c: owner_of(c, four) for c in CAMERAS}
    after = {c: owner_of(c, [*four, "node-4"]) for c in CAMERAS}
    moved = [c for c in CAMERAS if before[c] != after[c]]
    assert all(after[c] == "node-4" for c in moved)  # only to the newcomer, never between
    assert 0.5 * 400 / 5 <= len(moved) <= 1.2 * 400 / 5
    assert max(Counter(before.values()).values()) <= 1.3 * 100  # near an even share
    assert owner_of("cam-000", []) is None


async def test_four_workers_share_400_cameras_once_and_a_fifth_takes_its_share(
    r: redis.asyncio.Redis,
) -> None:
    workers = [Leases(r, f"node-{i}", ttl_s=5) for i in range(4)]
    held = await _settle(workers)
    owned = [c for cams in held.values() for c in cams]
    assert len(owned) == len(set(owned)) == 400  # none twice, none unowned
    assert await _holders(r, CAMERAS) == {c: w for w, cams in held.items() for c in cams}

    workers.append(Leases(r, "node-4", ttl_s=5))
    after = await _settle(workers)
    owned = [c for cams in after.values() for c in cams]
    assert len(owned) == len(set(owned)) == 400
    moved = {c for w, cams in after.items() for c in cams if c not in held.get(w, set())}
    assert moved == after["node-4"] and 40 <= len(moved) <= 1.2 * 400 / 5


async def test_a_handover_raises_the_token_and_fences_out_the_old_holder(
    r: redis.asyncio.Redis,
) -> None:
    a = Leases(r, "node-a", ttl_s=0.3)
    assert await a.sync(["c1"]) == {"c1"}
    first = a.token("c1")
    assert first is not None and await a.sync(["c1"]) == {"c1"}
    assert a.token("c1") == first  # renewing keeps the token
    seen_while_held = time.time()

    await asyncio.sleep(0.5)  # a stalls past its TTL; its heartbeat is as old
    await r.zrem("sharpeye:ingest:nodes", "node-a")  # b sees a gone (a real TTL would too)
    b = Leases(r, "node-b", ttl_s=5)
    assert await b.sync(["c1"]) == {"c1"}
    assert b.token("c1") == first + 1
    fence = await r.hgetall(fence_key("c1"))
    assert int(fence["token"]) == first + 1 and f"at:{first + 1}" in fence  # Redis's clock
    after_handover = time.time() + 0.01

    writes = [
        ("c1", first, seen_while_held),
        ("c1", first, after_handover),
        ("c1", first + 1, after_handover),
    ]
    late = await fenced_out(r, writes)
    assert late == {("c1", first, after_handover)}  # only a's view from after the handover
    # a wakes up: its lease is b's now, so it holds nothing and keeps its old token to stamp.
    assert await a.sync(["c1"]) == set()
    assert a.token("c1") == first


async def test_health_from_a_worker_whose_lease_passed_on_is_refused(
    r: redis.asyncio.Redis,
) -> None:
    def report(node: str, fence: int, state: CameraState) -> CameraHealth:
        return CameraHealth(
            camera_id="c1", node_id=node, state=state, updated_at=time.time(), fence=fence
        )

    assert await publish_health(r, [report("node-a", 1, CameraState.ONLINE)]) == set()
    assert await publish_health(r, [report("node-b", 2, CameraState.ONLINE)]) == set()
    channel = r.pubsub()
    await channel.subscribe("sharpeye:health:changes")
    try:
        await channel.get_message(timeout=1.0)  # the subscribe confirmation
        stale = report("node-a", 1, CameraState.OFFLINE)
        assert await publish_health(r, [stale], changed=[stale]) == {"c1"}
        stored = (await read_health(r))["c1"]
        assert stored.node_id == "node-b" and stored.state is CameraState.ONLINE
        fresh = report("node-b", 2, CameraState.DEGRADED)
        assert await publish_health(r, [fresh], changed=[fresh]) == set()
        message = None
        async with asyncio.timeout(5):
            while message is None:
                message = await channel.get_message(ignore_subscribe_messages=True, timeout=1)
        # The first change announced is b's: a's refused one never went out.
        assert CameraHealth.model_validate_json(message["data"]) == fresh
    finally:
        await channel.aclose()  # type: ignore[no-untyped-call]
    # Unfenced reports (older workers, tools) are stored as before.
    plain = CameraHealth(camera_id="c2", node_id="x", state=CameraState.ONLINE, updated_at=1.0)
    assert await publish_health(r, [plain]) == set()
    assert (await read_health(r))["c2"].node_id == "x"
