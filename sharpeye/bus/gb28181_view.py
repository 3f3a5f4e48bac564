"""The read model of the GB/T 28181 state: each registered device with its effective state,
keepalive age, what it says it is and how it is doing, its channels (and the registry
camera each plays as), and the streams open on them; `present` makes the one shape both
readers show (`DeviceOut`).

`sharpeye gb28181 status` (ingest) and `GET /api/gb28181/devices` (command_api) both show
it; it lives here, under both, so neither imports the other, and both judge staleness the
same way: a device by `GbDevice.effective_state`, a stream by its reader's lease (a call
record whose lease is gone is a leftover of a service that stopped, and is not shown).

Two round trips whatever the size: devices, answers and calls in one pipeline, then every
device's channels and every call's lease in a second. The CLI reads synchronously, the API
asynchronously: both queue the same commands (`_first`, `_second`) and share `assemble`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis
import redis.asyncio
from pydantic import BaseModel, Field

from sharpeye.bus.gb28181 import (
    CALLS_KEY,
    DEVICE_INFO_KEY,
    DEVICE_STATUS_KEY,
    DEVICES_KEY,
    channels_key,
    lease_key,
    parse_records,
)
from sharpeye.contracts.gb28181 import (
    GbCall,
    GbCallRole,
    GbChannel,
    GbChannelKind,
    GbDevice,
    GbDeviceInfo,
    GbDeviceState,
    GbDeviceStatus,
    GbMediaTransport,
)
from sharpeye.registry import Camera
from sharpeye.registry.urls import is_gb28181_url, parse_gb28181_url

# (device id, channel id) -> the registry camera playing that channel.
ChannelCameras = Mapping[tuple[str, str], str]


@dataclass(frozen=True)
class ChannelView:
    channel: GbChannel
    camera_id: str | None  # None: no registry camera plays it
    streams: tuple[GbCall, ...]


@dataclass(frozen=True)
class DeviceView:
    device: GbDevice
    state: GbDeviceState  # effective, as of the read
    keepalive_age_s: float | None
    info: GbDeviceInfo | None
    status: GbDeviceStatus | None
    channels: tuple[ChannelView, ...]
    # Every live stream of the device, also those on a channel its catalog did not list.
    streams: tuple[GbCall, ...]


def channel_cameras(cameras: Iterable[Camera]) -> dict[tuple[str, str], str]:
    """Which registry camera plays each GB channel (its main stream's, else its sub's)."""
    out: dict[tuple[str, str], str] = {}
    for camera in cameras:
        if camera.streams is None:
            continue
        for url in (camera.streams.main, camera.streams.sub):
            if url is not None and is_gb28181_url(url):
                out.setdefault(parse_gb28181_url(url), camera.id)
    return out


def _records(ids: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    return {i: v for i, v in zip(ids, values, strict=True) if v is not None}


def _first(pipe: Any, device_ids: Sequence[str] | None) -> None:
    if device_ids is None:
        pipe.hgetall(DEVICES_KEY)
        pipe.hgetall(DEVICE_INFO_KEY)
        pipe.hgetall(DEVICE_STATUS_KEY)
    elif device_ids:
        pipe.hmget(DEVICES_KEY, list(device_ids))
        pipe.hmget(DEVICE_INFO_KEY, list(device_ids))
        pipe.hmget(DEVICE_STATUS_KEY, list(device_ids))
    pipe.hgetall(CALLS_KEY)


@dataclass
class _Read:
    devices: dict[str, GbDevice]
    infos: dict[str, GbDeviceInfo]
    statuses: dict[str, GbDeviceStatus]
    calls: list[GbCall]


def _after_first(results: list[Any], device_ids: Sequence[str] | None) -> _Read:
    calls_raw = results[-1]
    if device_ids is None:
        devices_raw, infos_raw, statuses_raw = results[0], results[1], results[2]
    elif device_ids:
        devices_raw, infos_raw, statuses_raw = (_records(device_ids, v) for v in results[:3])
    else:
        devices_raw = infos_raw = statuses_raw = {}
    devices = parse_records(devices_raw, GbDevice)
    return _Read(
        devices,
        parse_records(infos_raw, GbDeviceInfo),
        parse_records(statuses_raw, GbDeviceStatus),
        [c for c in parse_records(calls_raw, GbCall).values() if c.device_id in devices],
    )


def _second(pipe: Any, read: _Read, order: Sequence[str]) -> None:
    for device_id in order:
        pipe.hgetall(channels_key(device_id))
    for call in read.calls:
        pipe.exists(lease_key(call.call_id))


def assemble(
    read: _Read, order: Sequence[str], results: list[Any], cameras: ChannelCameras, now: float
) -> list[DeviceView]:
    channels_raw, alive = results[: len(order)], results[len(order) :]
    calls = [c for c, live in zip(read.calls, alive, strict=True) if live]
    out: list[DeviceView] = []
    for device_id, raw in zip(order, channels_raw, strict=True):
        device = read.devices[device_id]
        streams = tuple(sorted((c for c in calls if c.device_id == device_id), key=_since))
        channels = parse_records(raw, GbChannel)
        views = tuple(
            ChannelView(
                channels[channel_id],
                cameras.get((device_id, channel_id)),
                tuple(s for s in streams if s.channel_id == channel_id),
            )
            for channel_id in sorted(channels)
        )
        last = device.last_keepalive
        out.append(
            DeviceView(
                device=device,
                state=device.effective_state(now),
                keepalive_age_s=None if last is None else round(max(0.0, now - last), 1),
                info=read.infos.get(device_id),
                status=read.statuses.get(device_id),
                channels=views,
                streams=streams,
            )
        )
    return out


def _since(call: GbCall) -> float:
    return call.since


async def read_view(
    r: redis.asyncio.Redis,
    cameras: ChannelCameras,
    now: float,
    device_ids: Sequence[str] | None = None,
) -> list[DeviceView]:
    """Devices `device_ids` (every registered one when None) that have a record, by ID."""
    async with r.pipeline(transaction=False) as pipe:
        _first(pipe, device_ids)
        read = _after_first(await pipe.execute(), device_ids)
    order = sorted(read.devices)
    async with r.pipeline(transaction=False) as pipe:
        _second(pipe, read, order)
        results = await pipe.execute() if order or read.calls else []
    return assemble(read, order, results, cameras, now)


def read_view_sync(
    r: redis.Redis, cameras: ChannelCameras, now: float, device_ids: Sequence[str] | None = None
) -> list[DeviceView]:
    with r.pipeline(transaction=False) as pipe:
        _first(pipe, device_ids)
        read = _after_first(pipe.execute(), device_ids)
    order = sorted(read.devices)
    with r.pipeline(transaction=False) as pipe:
        _second(pipe, read, order)
        results = pipe.execute() if order or read.calls else []
    return assemble(read, order, results, cameras, now)


async def registered_ids(r: redis.asyncio.Redis) -> list[str]:
    """Every device with a record, sorted (what a page of the list is cut from)."""
    return sorted(k.decode() if isinstance(k, bytes) else k for k in await r.hkeys(DEVICES_KEY))


# --- what is shown: the API's answer and `sharpeye gb28181 status --json` ----------------


class StreamOut(BaseModel):
    channel_id: str
    node_id: str = Field(description="The node whose reader holds the call.")
    role: GbCallRole = Field(description="ingest (analytics, recording) or relay (the wall).")
    transport: GbMediaTransport = Field(description="How the device sends the video.")
    since: float = Field(description="Unix time the device accepted the INVITE.")
    open_s: float = Field(description="Seconds open, as of this answer.")


class ChannelOut(BaseModel):
    channel_id: str
    name: str
    kind: GbChannelKind
    status: str = Field(description="ON/OFF, as the device's catalog said.")
    camera_id: str | None = Field(description="The registry camera playing it, if any.")
    streams: list[StreamOut]


class DeviceOut(BaseModel):
    device_id: str
    name: str
    state: GbDeviceState = Field(
        description="Effective state: offline once its keepalives are overdue, whatever was "
        "last stored (a SIP service that stopped leaves its last word on Redis)."
    )
    reason: str | None = Field(description="Why it is not online, in words.")
    transport: Literal["UDP", "TCP"] | None = Field(
        description="SIP transport it registered over (administrators only)."
    )
    address: str | None = Field(description="host:port it registered from (administrators only).")
    registered_at: float
    expires_at: float
    expires_in_s: float = Field(description="Seconds until the registration lapses unrefreshed.")
    last_keepalive: float | None
    keepalive_age_s: float | None = Field(description="Seconds since its last keepalive.")
    keepalive_interval_s: float
    keepalive_misses: int
    catalog_sum: int | None
    catalog_received: int
    info: GbDeviceInfo | None = Field(description="Its last DeviceInfo answer.")
    status: GbDeviceStatus | None = Field(description="Its last DeviceStatus answer.")
    channels: list[ChannelOut]
    streams: list[StreamOut] = Field(description="Streams open on its channels shown here.")


def _stream_out(call: GbCall, now: float) -> StreamOut:
    return StreamOut(
        channel_id=call.channel_id,
        node_id=call.node_id,
        role=call.role,
        transport=call.transport,
        since=call.since,
        open_s=round(max(0.0, now - call.since), 1),
    )


def present(
    view: DeviceView,
    now: float,
    *,
    full: bool,
    show_channel: Callable[[ChannelView], bool] | None = None,
) -> DeviceOut:
    """`view` as shown: `full` (administrators, the CLI) with where the device is and its
    alarm inputs; else without them. Only channels `show_channel` passes are listed, and
    only their streams. Never a password or Digest material: none is in the state."""
    channels = [c for c in view.channels if show_channel is None or show_channel(c)]
    shown = {c.channel.channel_id for c in channels}
    streams = [s for s in view.streams if show_channel is None or s.channel_id in shown]
    d = view.device
    status = view.status
    if status is not None and not full:
        # Alarm inputs are not cameras a scope can grant: only administrators see them.
        status = status.model_copy(update={"alarms": []})
    return DeviceOut(
        device_id=d.device_id,
        name=d.name,
        state=view.state,
        reason=d.reason if view.state != "online" else None,
        transport=d.transport if full else None,
        address=d.address if full else None,
        registered_at=d.registered_at,
        expires_at=d.expires_at,
        expires_in_s=round(d.expires_at - now, 1),
        last_keepalive=d.last_keepalive,
        keepalive_age_s=view.keepalive_age_s,
        keepalive_interval_s=d.keepalive_interval_s,
        keepalive_misses=d.keepalive_misses,
        catalog_sum=d.catalog_sum,
        catalog_received=d.catalog_received,
        info=view.info,
        status=status,
        channels=[
            ChannelOut(
                channel_id=c.channel.channel_id,
                name=c.channel.name,
                kind=c.channel.kind,
                status=c.channel.status,
                camera_id=c.camera_id,
                streams=[_stream_out(s, now) for s in c.streams],
            )
            for c in channels
        ],
        streams=[_stream_out(s, now) for s in streams],
    )
