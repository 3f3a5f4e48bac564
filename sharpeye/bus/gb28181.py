"""GB/T 28181 state on Redis: one hash of devices, one hash of channels per device.

The SIP service (`ingest.gb28181`) writes; `sharpeye gb28181 status` and the API read, both
through `sharpeye.bus.gb28181_view`. Keys:
- `sharpeye:gb28181:devices`: device_id -> `GbDevice` JSON;
- `sharpeye:gb28181:channels:<device_id>`: channel_id -> `GbChannel` JSON;
- `sharpeye:gb28181:device_info` / `...:device_status`: device_id -> the last
  `GbDeviceInfo` / `GbDeviceStatus` answer (apart from `devices`, which every keepalive
  rewrites: a status with hundreds of alarm inputs is written only when it arrives);
- `sharpeye:gb28181:calls`: call_id -> `GbCall`, the streams open (live while the call's
  lease is); `sharpeye:gb28181:queries`: on-demand DeviceInfo/DeviceStatus requests
  (`GbDeviceQuery`), bounded to the newest `QUERIES_MAX`;
- `sharpeye:gb28181:changes`: a channel announcing each device whose state changed;
- `sharpeye:gb28181:play`: play/stop requests from readers in other processes
  (`GbPlayRequest`), answered on `sharpeye:gb28181:reply:<node>:<request id>`
  (`GbPlayReply`); each remote call lives while its reader refreshes
  `sharpeye:gb28181:lease:<call id>`, and a call the service ended (the device's BYE, the
  device unregistered) leaves its reason at `sharpeye:gb28181:ended:<call id>`.
A catalog is replaced in one transaction (stale channels removed with the new ones set), so
a reader never sees half of two catalogs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import redis
import redis.asyncio
from pydantic import ValidationError

from sharpeye.contracts.gb28181 import (
    GbCall,
    GbChannel,
    GbDevice,
    GbDeviceInfo,
    GbDeviceQuery,
    GbDeviceStatus,
    GbPlayReply,
    GbPlayRequest,
)

log = logging.getLogger(__name__)

DEVICES_KEY = "sharpeye:gb28181:devices"
CHANNELS_PREFIX = "sharpeye:gb28181:channels:"
CHANGES_CHANNEL = "sharpeye:gb28181:changes"
PLAY_KEY = "sharpeye:gb28181:play"
DEVICE_INFO_KEY = "sharpeye:gb28181:device_info"
DEVICE_STATUS_KEY = "sharpeye:gb28181:device_status"
CALLS_KEY = "sharpeye:gb28181:calls"
QUERIES_KEY = "sharpeye:gb28181:queries"
QUERIES_MAX = 1000  # a burst of refresh clicks (or a script) cannot grow the list unbounded
REPLY_TTL_S = 30  # a reply nobody took (the reader gave up) does not stay
ENDED_TTL_S = 120

_M = TypeVar("_M", GbDevice, GbChannel, GbDeviceInfo, GbDeviceStatus, GbCall)


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


async def write_device_info(r: redis.asyncio.Redis, info: GbDeviceInfo) -> None:
    await r.hset(DEVICE_INFO_KEY, info.device_id, info.model_dump_json())


async def write_device_status(r: redis.asyncio.Redis, status: GbDeviceStatus) -> None:
    await r.hset(DEVICE_STATUS_KEY, status.device_id, status.model_dump_json())


async def ask_device_query(r: redis.asyncio.Redis, query: GbDeviceQuery) -> None:
    async with r.pipeline(transaction=False) as pipe:
        pipe.lpush(QUERIES_KEY, query.model_dump_json())
        pipe.ltrim(QUERIES_KEY, 0, QUERIES_MAX - 1)
        await pipe.execute()


async def take_device_queries(r: redis.asyncio.Redis, most: int) -> list[GbDeviceQuery]:
    """Up to `most` queued queries, oldest first, still in time; unreadable ones dropped."""
    raw: list[bytes | str] | None = await r.rpop(QUERIES_KEY, most)  # type: ignore[assignment]
    now = time.time()
    out: list[GbDeviceQuery] = []
    for text in raw or []:
        try:
            query = GbDeviceQuery.model_validate_json(text)
        except ValidationError:
            log.warning("gb28181: unreadable device query on Redis")
            continue
        if query.expires_at >= now:
            out.append(query)
    return out


def parse_records(raw: Mapping[bytes | str, bytes | str], model: type[_M]) -> dict[str, _M]:
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
    return parse_records(await r.hgetall(DEVICES_KEY), GbDevice)


async def read_channels(r: redis.asyncio.Redis, device_id: str) -> dict[str, GbChannel]:
    return parse_records(await r.hgetall(channels_key(device_id)), GbChannel)


def read_devices_sync(r: redis.Redis) -> dict[str, GbDevice]:
    return parse_records(r.hgetall(DEVICES_KEY), GbDevice)


def read_channels_sync(r: redis.Redis, device_id: str) -> dict[str, GbChannel]:
    return parse_records(r.hgetall(channels_key(device_id)), GbChannel)


# --- live video for readers in other processes -------------------------------------------


def reply_key(node_id: str, request_id: str) -> str:
    return f"sharpeye:gb28181:reply:{node_id}:{request_id}"


def lease_key(call_id: str) -> str:
    return f"sharpeye:gb28181:lease:{call_id}"


def ended_key(call_id: str) -> str:
    return f"sharpeye:gb28181:ended:{call_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def ask_play_sync(r: redis.Redis, request: GbPlayRequest, wait_s: float) -> GbPlayReply | None:
    """Queue `request` and wait up to `wait_s` for the service's reply (None: none came)."""
    r.lpush(PLAY_KEY, request.model_dump_json())
    key = reply_key(request.node_id, request.request_id)
    deadline = time.monotonic() + wait_s
    # In short waits: a client's socket timeout (5 s on the node's) must not cut one off.
    while (left := deadline - time.monotonic()) > 0:
        got = r.blpop([key], timeout=max(1, min(2, round(left))))
        if got is not None:
            return GbPlayReply.model_validate_json(_text(got[1]))
    return None


def tell_stop_sync(r: redis.Redis, request: GbPlayRequest) -> None:
    """Ask for the BYE; the lease goes first, so a lost request still ends the call."""
    assert request.call_id is not None
    with r.pipeline(transaction=False) as pipe:
        pipe.delete(lease_key(request.call_id))
        pipe.lpush(PLAY_KEY, request.model_dump_json())
        pipe.execute()


def keep_call_sync(r: redis.Redis, call_id: str, lease_s: float) -> str | None:
    """Refresh the call's lease; the reason the service ended it, if it has."""
    with r.pipeline(transaction=False) as pipe:
        pipe.set(lease_key(call_id), "1", px=int(lease_s * 1000))
        pipe.get(ended_key(call_id))
        _ok, ended = pipe.execute()
    return None if ended is None else _text(ended)


async def next_play_request(r: redis.asyncio.Redis, wait_s: float) -> GbPlayRequest | None:
    """The oldest queued request, waiting up to `wait_s`; None if none (or unreadable)."""
    got = await r.brpop([PLAY_KEY], timeout=wait_s)
    if got is None:
        return None
    try:
        return GbPlayRequest.model_validate_json(_text(got[1]))
    except ValidationError as exc:
        log.warning("gb28181: unreadable play request on Redis: %s", str(exc)[:300])
        return None


async def send_play_reply(r: redis.asyncio.Redis, node_id: str, reply: GbPlayReply) -> None:
    key = reply_key(node_id, reply.request_id)
    async with r.pipeline(transaction=True) as pipe:
        pipe.rpush(key, reply.model_dump_json())
        pipe.expire(key, REPLY_TTL_S)
        await pipe.execute()


async def start_lease(r: redis.asyncio.Redis, call_id: str, lease_s: float) -> None:
    """The first lease, set by the service: the reader refreshes it once it has the reply."""
    await r.set(lease_key(call_id), "1", px=int(lease_s * 1000))


async def leases_alive(r: redis.asyncio.Redis, call_ids: Sequence[str]) -> list[bool]:
    async with r.pipeline(transaction=False) as pipe:
        for call_id in call_ids:
            pipe.exists(lease_key(call_id))
        return [bool(n) for n in await pipe.execute()]


async def mark_ended(r: redis.asyncio.Redis, call_id: str, reason: str) -> None:
    async with r.pipeline(transaction=False) as pipe:
        pipe.set(ended_key(call_id), reason, ex=ENDED_TTL_S)
        pipe.delete(lease_key(call_id))
        pipe.hdel(CALLS_KEY, call_id)
        await pipe.execute()


async def write_call(r: redis.asyncio.Redis, call: GbCall) -> None:
    await r.hset(CALLS_KEY, call.call_id, call.model_dump_json())


async def forget_call(r: redis.asyncio.Redis, call_id: str) -> None:
    await r.hdel(CALLS_KEY, call_id)


async def forget_dead_calls(r: redis.asyncio.Redis) -> int:
    """Remove call records whose lease is gone (a service that stopped without ending
    them); how many."""
    call_ids = [_text(c) for c in await r.hkeys(CALLS_KEY)]
    if not call_ids:
        return 0
    dead = [
        c for c, alive in zip(call_ids, await leases_alive(r, call_ids), strict=True) if not alive
    ]
    if dead:
        await r.hdel(CALLS_KEY, *dead)
    return len(dead)
