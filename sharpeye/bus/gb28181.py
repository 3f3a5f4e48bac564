"""GB/T 28181 state on Redis: one hash of devices, one hash of channels per device.

The SIP service (`ingest.gb28181`) writes; `sharpeye gb28181 status` and later the API
read. Keys:
- `sharpeye:gb28181:devices`: device_id -> `GbDevice` JSON;
- `sharpeye:gb28181:channels:<device_id>`: channel_id -> `GbChannel` JSON;
- `sharpeye:gb28181:changes`: a channel announcing each device whose state changed.
A catalog is replaced in one transaction (stale channels removed with the new ones set), so
a reader never sees half of two catalogs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import redis
import redis.asyncio
from pydantic import ValidationError

from sharpeye.contracts.gb28181 import GbChannel, GbDevice

log = logging.getLogger(__name__)

DEVICES_KEY = "sharpeye:gb28181:devices"
CHANNELS_PREFIX = "sharpeye:gb28181:channels:"
CHANGES_CHANNEL = "sharpeye:gb28181:changes"

_M = TypeVar("_M", GbDevice, GbChannel)


def channels_key(device_id: str) -> str:
    return CHANNELS_PREFIX + device_id


async def write_device(r: redis.asyncio.Redis, device: GbDevice, *, announce: bool = False) -> None:
    async with r.pipeline(transaction=False) as pipe:
        pipe.hset(DEVICES_KEY, device.device_id, device.model_dump_json())
        if announce:
            pipe.publish(CHANGES_CHANNEL, device.model_dump_json())
        await pipe.execute()


async def write_channels(
    r: redis.asyncio.Redis,
    device_id: str,
    channels: Sequence[GbChannel],
    *,
    keep_only: Iterable[str] | None = None,
) -> None:
    """Store `channels`; with `keep_only`, also delete the device's channels not in it (a
    complete catalog replaces the last one)."""
    key = channels_key(device_id)
    async with r.pipeline(transaction=True) as pipe:
        if keep_only is not None:
            keep = set(keep_only)
            stored = await r.hkeys(key)
            stale = [c for c in stored if c not in keep]
            if stale:
                pipe.hdel(key, *stale)
        if channels:
            pipe.hset(key, mapping={c.channel_id: c.model_dump_json() for c in channels})
        await pipe.execute()


def _parse_all(raw: Mapping[bytes | str, bytes | str], model: type[_M]) -> dict[str, _M]:
    out: dict[str, _M] = {}
    for key, text in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        try:
            out[name] = model.model_validate_json(text)
        except ValidationError:
            # A record from another version must not blank the whole view.
            log.warning("gb28181: unreadable %s record for %s on Redis", model.__name__, name)
    return out


async def read_devices(r: redis.asyncio.Redis) -> dict[str, GbDevice]:
    return _parse_all(await r.hgetall(DEVICES_KEY), GbDevice)


async def read_channels(r: redis.asyncio.Redis, device_id: str) -> dict[str, GbChannel]:
    return _parse_all(await r.hgetall(channels_key(device_id)), GbChannel)


def read_devices_sync(r: redis.Redis) -> dict[str, GbDevice]:
    return _parse_all(r.hgetall(DEVICES_KEY), GbDevice)


def read_channels_sync(r: redis.Redis, device_id: str) -> dict[str, GbChannel]:
    return _parse_all(r.hgetall(channels_key(device_id)), GbChannel)
