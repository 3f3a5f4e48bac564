"""The camera catalog with live health: what a wall or an operator's list shows.

Responses carry no credentials and no stream URLs (video goes through the relay); only
`has_credentials` says whether the camera needs a login.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from command_api.audit.reads import audited_read
from command_api.auth.guard import require_camera
from command_api.deps import CameraScope, RedisDep, RegistryDep, RuntimeDep, ScopeDep
from command_api.routers.problems import unprocessable
from sharpeye.bus.health import (
    UNKNOWN,
    current_frame_age,
    effective_state,
    read_health,
    state_reason,
)
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.health_text import for_reader
from sharpeye.registry import Camera, Registry

router = APIRouter(prefix="/api/cameras", tags=["cameras"])

HealthState = Literal["connecting", "online", "degraded", "offline", "disabled", "unknown"]
StreamKind = Literal["main", "sub"]
MAX_LIMIT = 1000


class LocationOut(BaseModel):
    lat: float = Field(description="Latitude, WGS84 degrees.")
    lon: float = Field(description="Longitude, WGS84 degrees.")
    address: str = Field(description="Postal address or landmark.")


class HealthOut(BaseModel):
    state: CameraState | Literal["unknown"] = Field(
        description="Effective state: 'offline' when the last report is stale (its worker "
        "stopped), 'unknown' before any report, 'disabled' when disabled in the registry."
    )
    reason: str | None = Field(
        default=None,
        description="Why the camera is not online: a plain category ('unreachable', 'login "
        "refused', 'picture frozen for 12 s'); administrators get the detail (host, port, "
        "path), never a secret.",
    )
    fps: float | None = Field(default=None, description="Frames per second over the last window.")
    bitrate_kbps: float | None = Field(
        default=None, description="Video bitrate over the last window."
    )
    keyframe_interval_s: float | None = Field(
        default=None, description="Seconds between keyframes."
    )
    last_frame_age_s: float | None = Field(
        default=None, description="Seconds since the last complete frame, as of this response."
    )
    decode_errors: int | None = Field(
        default=None, description="Decode errors counted by the worker."
    )
    reconnects: int | None = Field(default=None, description="Reconnects counted by the worker.")
    node_id: str | None = Field(default=None, description="Node of the ingest worker reporting.")
    last_error: str | None = Field(
        default=None,
        description="Last error: its category, or for administrators the detail without "
        "credentials, query strings, secret key names or secrets file paths.",
    )
    reader: Literal["native", "pyav"] | None = Field(
        default=None,
        description="RTSP client reading the camera: native (Sharpeye's) or pyav (FFmpeg's, "
        "for cameras the native one cannot read).",
    )
    updated_at: float | None = Field(default=None, description="Unix time of the last report.")
    quality_issues: list[str] = Field(
        default_factory=list,
        description="Picture problems from the last diagnosis: black, overexposed, "
        "low_contrast, blurred, frozen.",
    )
    brightness: float | None = Field(default=None, description="Mean luma 0-255 (diagnosis).")
    sharpness: float | None = Field(
        default=None, description="Variance of the Laplacian (diagnosis); low means blurred."
    )


class CameraSummary(BaseModel):
    id: str = Field(description="Camera id (registry).")
    name: str = Field(description="Display name.")
    department: str = Field(description="Owning department id.")
    department_name: str = Field(description="Owning department's display name.")
    groups: list[str] = Field(description="Ids of the groups the camera belongs to.")
    location: LocationOut
    tags: list[str]
    enabled: bool = Field(description="False: listed but not ingested.")
    has_onvif: bool = Field(description="The camera has an ONVIF endpoint.")
    has_credentials: bool = Field(description="The camera needs a login (never returned).")
    streams: list[StreamKind] = Field(
        description="Stream kinds the registry defines; empty when ONVIF supplies them."
    )
    health: HealthOut


def _health_out(camera: Camera, h: CameraHealth | None, now: float, admin: bool) -> HealthOut:
    if not camera.enabled:
        return HealthOut(state=CameraState.DISABLED, reason="disabled in the registry")
    if h is None:
        return HealthOut(state=UNKNOWN, reason="no health report yet")
    return HealthOut(
        state=effective_state(h, now),
        # Errors name the camera's address and login: only administrators fix cameras.
        reason=for_reader(state_reason(h, now), administrator=admin),
        fps=h.fps,
        bitrate_kbps=h.bitrate_kbps,
        keyframe_interval_s=h.keyframe_interval_s,
        last_frame_age_s=current_frame_age(h, now),
        decode_errors=h.decode_errors,
        reconnects=h.reconnects,
        node_id=h.node_id,
        last_error=for_reader(h.last_error, administrator=admin),
        reader=h.reader,
        updated_at=h.updated_at,
        quality_issues=h.quality_issues,
        brightness=h.brightness,
        sharpness=h.sharpness,
    )


def _summary(
    registry: Registry, camera: Camera, h: CameraHealth | None, now: float, admin: bool
) -> CameraSummary:
    department = registry.departments_by_id.get(camera.department)
    streams: list[StreamKind] = []
    if camera.streams is not None:
        streams.append("main")
        if camera.streams.sub is not None:
            streams.append("sub")
    return CameraSummary(
        id=camera.id,
        name=camera.name,
        department=camera.department,
        department_name=department.name if department else camera.department,
        groups=list(camera.groups),
        location=LocationOut(
            lat=camera.location.lat, lon=camera.location.lon, address=camera.location.address
        ),
        tags=list(camera.tags),
        enabled=camera.enabled,
        has_onvif=camera.onvif is not None,
        has_credentials=camera.credentials is not None
        or (camera.onvif is not None and camera.onvif.credentials is not None),
        streams=streams,
        health=_health_out(camera, h, now, admin),
    )


def _is_admin(scope: CameraScope) -> bool:
    return scope.principal is not None and scope.principal.is_admin


def _group_visible(registry: Registry, scope: CameraScope, group: str) -> bool:
    """The group exists and holds a camera the caller may see (as GET /api/groups lists)."""
    if all(g.id != group for g in registry.groups):
        return False
    if scope.camera_ids is None:
        return True
    return any(group in c.groups and scope.allows(c.id) for c in registry.cameras)


def _matches(
    camera: Camera,
    department: str | None,
    group: str | None,
    q: str | None,
    group_names: dict[str, str],
) -> bool:
    if department is not None and camera.department != department:
        return False
    if group is not None and group not in camera.groups:
        return False
    if q:
        needle = q.casefold()
        haystack = [camera.id, camera.name, *camera.tags]
        haystack += [group_names.get(g, g) for g in camera.groups]
        if not any(needle in text.casefold() for text in haystack):
            return False
    return True


@router.get(
    "",
    response_model=list[CameraSummary],
    summary="List cameras with their health",
    dependencies=[audited_read("camera.list")],
    responses=unprocessable("Unknown department or group, or invalid parameters."),
    description="Cameras of the registry the caller may see, in registry order, with live "
    "health. Filters combine with AND. The total before pagination is in `X-Total-Count`.",
)
async def list_cameras(
    response: Response,
    registry: RegistryDep,
    r: RedisDep,
    scope: ScopeDep,
    department: Annotated[str | None, Query(description="Owning department id.")] = None,
    group: Annotated[str | None, Query(description="Camera group id.")] = None,
    state: Annotated[HealthState | None, Query(description="Effective health state.")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in the id, name, a tag or a group's name."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = 200,
    offset: Annotated[int, Query(ge=0, description="Cameras to skip.")] = 0,
) -> list[CameraSummary]:
    if department is not None and department not in registry.departments_by_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown department {department!r}"
        )
    if group is not None and not _group_visible(registry, scope, group):
        # A group with none of the caller's cameras is unknown to it, like one that does not
        # exist: another answer (an empty list) would tell which groups exist elsewhere.
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown group {group!r}")
    group_names = {g.id: g.name for g in registry.groups}
    cameras = [
        c
        for c in registry.cameras
        if scope.allows(c.id) and _matches(c, department, group, q, group_names)
    ]
    now = time.time()
    admin = _is_admin(scope)
    if state is None:
        # Health for the page only: one HMGET of at most `limit` fields.
        total = len(cameras)
        page = cameras[offset : offset + limit]
        health = await read_health(r, [c.id for c in page])
        items = [_summary(registry, c, health.get(c.id), now, admin) for c in page]
    else:
        # The state filter needs every candidate's health before paginating.
        health = await read_health(r, [c.id for c in cameras])
        matching = [
            s
            for s in (_summary(registry, c, health.get(c.id), now, admin) for c in cameras)
            if s.health.state == state
        ]
        total = len(matching)
        items = matching[offset : offset + limit]
    response.headers["X-Total-Count"] = str(total)
    return items


@router.get(
    "/{camera_id}",
    response_model=CameraSummary,
    dependencies=[audited_read("camera.read")],
    summary="One camera with its health",
    responses={
        403: {"description": "The camera is not visible to the caller's department (audited)."},
        404: {"description": "No camera with this id."},
    },
)
async def get_camera(
    camera_id: str, registry: RegistryDep, r: RedisDep, scope: ScopeDep, runtime: RuntimeDep
) -> CameraSummary:
    camera = await require_camera(runtime, registry, scope, camera_id, "camera.read")
    health = await read_health(r, [camera_id])
    return _summary(registry, camera, health.get(camera_id), time.time(), _is_admin(scope))
