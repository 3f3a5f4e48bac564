"""GB/T 28181 devices as the SIP service (`sharpeye gb28181`) sees them: registered devices
and lower platforms, what each says it is (DeviceInfo) and how it is doing (DeviceStatus),
keepalive ages, their channels with the registry camera each plays as, and the streams
open on them (which ingest or relay node holds the call, since when).

Read from Redis through the read model `sharpeye gb28181 status` shows too
(`sharpeye.bus.gb28181_view`), never from the service's internals. Never a password or
Digest material: the state on Redis holds none.

Who sees what (scoped by channel, like cameras):
- administrators: every device, all its channels (mapped or not), where it registered from
  (transport, address) and its alarm inputs;
- everyone else: the devices with a channel that plays as a registry camera they may see
  (`scope.allows`), listing only those channels and their streams, without the device's
  address or alarm inputs. Another department's device is a 404, as if absent (audited as
  a refusal), so its ID is not confirmed.
Asking a device for its DeviceInfo/DeviceStatus again is for administrators.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from command_api.audit.reads import audited_read, note_count
from command_api.deps import AdminDep, CameraScope, RedisDep, RegistryDep, RuntimeDep, ScopeDep
from command_api.runtime import audit, entry_for
from sharpeye.bus.gb28181 import DEVICES_KEY, ask_device_query
from sharpeye.bus.gb28181_view import (
    ChannelCameras,
    ChannelView,
    DeviceOut,
    channel_cameras,
    present,
    read_view,
    registered_ids,
)
from sharpeye.contracts.gb28181 import GbDeviceQuery
from sharpeye.registry import Registry

router = APIRouter(prefix="/api/gb28181", tags=["gb28181"])

MAX_LIMIT = 500
QUERY_WAIT_S = 60.0  # an on-demand query still queued after this is stale
DeviceId = Annotated[
    str, PathParam(pattern=r"^[0-9]{20}$", description="The device's 20-digit GB/T 28181 ID.")
]

_mapping: list[tuple[Registry, dict[tuple[str, str], str]]] = []


def _cameras(registry: Registry) -> ChannelCameras:
    """Channel -> camera, walked once per registry (reloads make a new object): a district
    registry has 54,000 cameras and every request needs the map."""
    if not _mapping or _mapping[0][0] is not registry:
        _mapping[:] = [(registry, channel_cameras(registry.cameras))]
    return _mapping[0][1]


def _is_admin(scope: CameraScope) -> bool:
    return scope.camera_ids is None


def _visible_devices(cameras: ChannelCameras, scope: CameraScope) -> set[str]:
    return {device for (device, _), camera in cameras.items() if scope.allows(camera)}


def _channel_filter(scope: CameraScope) -> Callable[[ChannelView], bool] | None:
    """None for administrators (every channel), else which channels the caller may see."""
    if _is_admin(scope):
        return None

    def visible(channel: ChannelView) -> bool:
        return channel.camera_id is not None and scope.allows(channel.camera_id)

    return visible


@router.get(
    "/devices",
    response_model=list[DeviceOut],
    summary="Registered GB/T 28181 devices, their channels and streams open",
    dependencies=[audited_read("gb28181.device.list")],
    description="Devices that have registered (by ID), with effective state, keepalive age, "
    "DeviceInfo and DeviceStatus answers, channels (with the registry camera each plays as) "
    "and streams open. Administrators see every device; others the devices with a channel "
    "playing as a camera they may see, and only those channels. The total before "
    "pagination is in `X-Total-Count`.",
)
async def list_devices(
    request: Request,
    response: Response,
    r: RedisDep,
    registry: RegistryDep,
    scope: ScopeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Devices to skip.")] = 0,
) -> list[DeviceOut]:
    cameras = _cameras(registry)
    ids = await registered_ids(r)
    if not _is_admin(scope):
        visible = _visible_devices(cameras, scope)
        ids = [i for i in ids if i in visible]
    page = ids[offset : offset + limit]
    now = time.time()
    views = await read_view(r, cameras, now, page) if page else []
    show = _channel_filter(scope)
    items = [present(v, now, full=show is None, show_channel=show) for v in views]
    response.headers["X-Total-Count"] = str(len(ids))
    note_count(request, len(items))
    return items


@router.get(
    "/devices/{device_id}",
    response_model=DeviceOut,
    summary="One registered GB/T 28181 device",
    dependencies=[audited_read("gb28181.device.read")],
    responses={404: {"description": "Not registered, or none of its channels is yours."}},
)
async def get_device(
    device_id: DeviceId, r: RedisDep, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> DeviceOut:
    cameras = _cameras(registry)
    now = time.time()
    views = await read_view(r, cameras, now, [device_id])
    missing = HTTPException(status.HTTP_404_NOT_FOUND, f"no registered device {device_id}")
    if not views:
        raise missing
    if not _is_admin(scope) and device_id not in _visible_devices(cameras, scope):
        # Answered as if absent, but a refusal all the same: audited like every other.
        department = scope.principal.department if scope.principal else "?"
        reason = f"no channel of the device plays as a camera visible to {department}"
        entry = entry_for(
            scope.principal,
            "gb28181.device.read",
            f"gb28181:{device_id}",
            "denied",
            {"reason": reason},
        )
        await run_in_threadpool(audit, runtime, entry)
        raise missing
    show = _channel_filter(scope)
    return present(views[0], now, full=show is None, show_channel=show)


class QueryAccepted(BaseModel):
    device_id: str
    queued: bool = Field(description="The SIP service asks the device within a second or so.")


@router.post(
    "/devices/{device_id}/query",
    response_model=QueryAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask a device for its DeviceInfo and DeviceStatus now",
    description="Queued for the SIP service, which sends both queries if the device is "
    "registered and online; the answers replace `info` and `status` in the device's view "
    "(their `received_at` says when). Administrators only; audited.",
    responses={404: {"description": "No registered device with this ID."}},
)
async def query_device(
    device_id: DeviceId, r: RedisDep, admin: AdminDep, runtime: RuntimeDep
) -> QueryAccepted:
    if not await r.hexists(DEVICES_KEY, device_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no registered device {device_id}")
    query = GbDeviceQuery(
        device_id=device_id, asked_by=admin.actor, expires_at=time.time() + QUERY_WAIT_S
    )
    await ask_device_query(r, query)
    entry = entry_for(admin, "gb28181.device.query", f"gb28181:{device_id}")
    await run_in_threadpool(audit, runtime, entry)
    return QueryAccepted(device_id=device_id, queued=True)
