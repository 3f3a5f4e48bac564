"""The GB/T 28181 read model on a real Redis: a device with its channels (mapped to the
registry cameras that play them), answers and calls; a call whose lease is gone (its
service stopped) is not shown and is tidied away; the sync and async readers agree, and
on both a client that decodes responses and one that does not. On-demand queries: bounded,
and stale ones dropped."""

from __future__ import annotations

import time

import pytest
import redis
import redis.asyncio

from sharpeye.bus.gb28181 import (
    QUERIES_KEY,
    QUERIES_MAX,
    ask_device_query,
    forget_dead_calls,
    start_lease,
    take_device_queries,
    write_call,
    write_channels,
    write_device,
    write_device_info,
)
from sharpeye.bus.gb28181_view import present, read_view, read_view_sync, registered_ids
from sharpeye.contracts.gb28181 import (
    GbCall,
    GbChannel,
    GbDevice,
    GbDeviceInfo,
    GbDeviceQuery,
)

DEVICE = "34020000001320000001"
EAST, SOUTH = "34020000001310000001", "34020000001310000002"
CAMERAS = {(DEVICE, EAST): "east-gate"}


def _call(call_id: str, channel: str, node: str, since: float) -> GbCall:
    return GbCall(
        call_id=call_id,
        device_id=DEVICE,
        channel_id=channel,
        node_id=node,
        role="relay" if node.startswith("relay") else "ingest",
        transport="udp",
        since=since,
    )


async def _world(r: redis.asyncio.Redis, now: float) -> None:
    await write_device(
        r,
        GbDevice(
            device_id=DEVICE,
            name="东门",
            state="online",
            transport="UDP",
            address="10.0.0.9:5060",
            registered_at=now - 100,
            expires_at=now + 3500,
            last_keepalive=now - 7,
            keepalive_interval_s=60,
            keepalive_misses=3,
            updated_at=now,
        ),
    )
    channels = [
        GbChannel(channel_id=c, device_id=DEVICE, name=c[-1], kind="camera", updated_at=now)
        for c in (EAST, SOUTH)
    ]
    await write_channels(r, DEVICE, channels)
    info = GbDeviceInfo(
        device_id=DEVICE, result="OK", manufacturer="Hikvision", channels=2, received_at=now
    )
    await write_device_info(r, info)
    await write_call(r, _call("live", EAST, "relay-a-0", now - 5))
    await start_lease(r, "live", 10)
    await write_call(r, _call("dead", SOUTH, "node-b", now - 50))  # no lease: stopped


@pytest.mark.parametrize("decode", [True, False], ids=["str", "bytes"])
async def test_a_device_its_channels_and_live_streams(redis_url: str, decode: bool) -> None:
    now = time.time()
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=decode)
    sync = redis.Redis.from_url(redis_url, decode_responses=decode)
    try:
        await _world(r, now)
        (view,) = await read_view(r, CAMERAS, now)
        assert (view.state, view.keepalive_age_s) == ("online", 7.0)
        assert view.info is not None and view.info.manufacturer == "Hikvision"
        assert view.status is None
        assert [(c.channel.channel_id, c.camera_id) for c in view.channels] == [
            (EAST, "east-gate"),
            (SOUTH, None),
        ]
        assert [s.call_id for s in view.streams] == ["live"]
        assert [s.call_id for s in view.channels[0].streams] == ["live"]
        assert read_view_sync(sync, CAMERAS, now) == [view]
        assert await read_view(r, CAMERAS, now, [DEVICE]) == [view]
        assert await read_view(r, CAMERAS, now, ["34020000001320000009"]) == []
        assert await registered_ids(r) == [DEVICE]

        shown = present(view, now, full=False, show_channel=lambda c: c.camera_id is not None)
        assert ([c.channel_id for c in shown.channels], shown.address) == ([EAST], None)
        assert [s.open_s for s in shown.streams] == [5.0]
        # Unheard for its misses: offline, whatever the record says.
        assert (await read_view(r, CAMERAS, now + 200))[0].state == "offline"

        assert await forget_dead_calls(r) == 1
        assert set(await r.hkeys("sharpeye:gb28181:calls")) == {"live" if decode else b"live"}
    finally:
        await r.aclose()
        sync.close()


async def test_device_queries_are_bounded_and_expire(redis_url: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        now = time.time()
        stale = GbDeviceQuery(device_id=DEVICE, asked_by="admin", expires_at=now - 1)
        await ask_device_query(r, stale)
        for _ in range(QUERIES_MAX + 5):
            fresh = GbDeviceQuery(device_id=DEVICE, asked_by="admin", expires_at=now + 60)
            await ask_device_query(r, fresh)
        assert await r.llen(QUERIES_KEY) == QUERIES_MAX  # the oldest (the stale one) went
        taken = await take_device_queries(r, 50)
        assert len(taken) == 50 and all(q.expires_at > now for q in taken)
        await r.delete(QUERIES_KEY)
        await ask_device_query(r, stale)
        await r.lpush(QUERIES_KEY, "not json")
        assert await take_device_queries(r, 50) == []
    finally:
        await r.aclose()
