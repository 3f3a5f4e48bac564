"""GB/T 28181 state on a real Redis: a complete catalog replaces the last one, and a record
another version wrote that does not parse is skipped, not fatal."""

from __future__ import annotations

import redis
import redis.asyncio

from sharpeye.bus.gb28181 import (
    DEVICES_KEY,
    read_channels,
    read_channels_sync,
    read_devices,
    read_devices_sync,
    write_channels,
    write_device,
)
from sharpeye.contracts.gb28181 import GbChannel, GbDevice

DEVICE = "34020000001320000001"


def channel(number: int) -> GbChannel:
    return GbChannel(
        channel_id=f"3402000000131000000{number}",
        device_id=DEVICE,
        name=f"通道{number}",
        kind="camera",
        updated_at=1.0,
    )


async def test_catalog_replacement_and_unreadable_records(redis_url: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await write_channels(r, DEVICE, [channel(1), channel(2)])
        await write_channels(r, DEVICE, [channel(3)])  # a part: adds
        assert len(await read_channels(r, DEVICE)) == 3
        await write_channels(r, DEVICE, [channel(3)], keep_only=[channel(3).channel_id])
        assert list(await read_channels(r, DEVICE)) == [channel(3).channel_id]

        device = GbDevice(
            device_id=DEVICE,
            state="online",
            transport="TCP",
            address="10.0.0.9:5060",
            registered_at=1.0,
            expires_at=3601.0,
            keepalive_interval_s=60.0,
            keepalive_misses=3,
            updated_at=1.0,
        )
        await write_device(r, device, announce=True)
        await r.hset(DEVICES_KEY, "34020000001320000009", '{"device_id": 1}')
        assert await read_devices(r) == {DEVICE: device}
    finally:
        await r.aclose()
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert list(read_devices_sync(sync)) == [DEVICE]
        assert read_channels_sync(sync, DEVICE)[channel(3).channel_id].name == "通道3"
    finally:
        sync.close()
