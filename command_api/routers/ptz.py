"""Pan, tilt, zoom and presets of a camera whose ONVIF device has a PTZ service.

Whether a camera has PTZ is asked from the device (its advertised services), not from the
registry: `GET .../ptz` answers 404 for a camera without ONVIF or without PTZ. Anyone whose
scope includes the camera may read its position and presets; moving it takes a role in
`PTZ_OPERATORS`. Every control is audited with its outcome (`camera.ptz.*`), refusals too.
The device's credentials come from the registry's reference at the moment of use and never
appear in an answer or a log line; a device that does not answer is a 504 naming the camera,
one that answers wrongly a 502.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

from fastapi import APIRouter, Body, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from camera.onvif.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifNoPtzError,
    OnvifPresetError,
    OnvifUnreachable,
)
from camera.onvif.ptz import PtzPosition, PtzSession
from command_api.audit.log import Outcome
from command_api.audit.reads import audited_read
from command_api.auth.guard import require_camera
from command_api.auth.roles import PTZ_OPERATORS
from command_api.deps import (
    CameraScope,
    RegistryDep,
    Runtime,
    RuntimeDep,
    ScopeDep,
    audit,
    entry_for,
    require,
)
from sharpeye.registry import Camera, CredentialError, Registry, resolve_credentials

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/cameras", tags=["ptz"])
T = TypeVar("T")

# Bounds each exchange with the device (its answer to one request).
DEVICE_TIMEOUT_S = 5.0
MAX_MOVE_S = 3.0
# A held button renews its move before this runs out; a wall that vanishes mid-hold leaves
# the camera turning no longer than this.
MAX_HOLD_S = 2.0

Velocity = Annotated[float, Field(ge=-1.0, le=1.0)]
PresetToken = Annotated[str, PathParam(min_length=1, max_length=64, description="Preset token.")]
_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "Outside the caller's scope, or a role that may not steer (audited)."},
    404: {"description": "No such camera, no ONVIF PTZ on it, or no such preset."},
    502: {"description": "The camera's ONVIF device refused or answered wrongly."},
    504: {"description": "The camera's ONVIF device did not answer."},
}


class PositionOut(BaseModel):
    pan: float | None = Field(description="-1 (left) to 1 (right); None if not reported.")
    tilt: float | None = Field(description="-1 (down) to 1 (up); None if not reported.")
    zoom: float | None = Field(description="0 (wide) to 1 (tele); None if not reported.")
    moving: bool = Field(description="The device reports a move in progress.")


class PresetOut(BaseModel):
    token: str = Field(description="The device's preset token.")
    name: str = Field(description="Display name.")


class PtzOut(BaseModel):
    camera_id: str
    position: PositionOut
    presets: list[PresetOut]
    can_control: bool = Field(description="The caller's roles allow moving this camera.")


class MoveIn(BaseModel):
    pan: Velocity = Field(default=0.0, description="Pan velocity, -1 (left) to 1 (right).")
    tilt: Velocity = Field(default=0.0, description="Tilt velocity, -1 (down) to 1 (up).")
    zoom: Velocity = Field(default=0.0, description="Zoom velocity, -1 (out) to 1 (in).")
    duration_s: float = Field(
        default=0.5, gt=0.0, le=MAX_MOVE_S, description="How long to move before stopping."
    )


class StartIn(BaseModel):
    pan: Velocity = Field(default=0.0, description="Pan velocity, -1 (left) to 1 (right).")
    tilt: Velocity = Field(default=0.0, description="Tilt velocity, -1 (down) to 1 (up).")
    zoom: Velocity = Field(default=0.0, description="Zoom velocity, -1 (out) to 1 (in).")
    timeout_s: float = Field(
        default=1.0,
        gt=0.0,
        le=MAX_HOLD_S,
        description="The device stops by itself this long after the request unless renewed.",
    )


class StepIn(BaseModel):
    pan: Velocity = Field(default=0.0, description="Pan step, a fraction of the range.")
    tilt: Velocity = Field(default=0.0, description="Tilt step, a fraction of the range.")
    zoom: Velocity = Field(default=0.0, description="Zoom step, a fraction of the range.")


class PresetIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="Display name of the preset.")
    token: str | None = Field(
        default=None, min_length=1, max_length=64, description="Overwrite this preset."
    )


def _position(p: PtzPosition) -> PositionOut:
    return PositionOut(pan=p.pan, tilt=p.tilt, zoom=p.zoom, moving=p.moving)


def _http_error(camera_id: str, exc: OnvifError | CredentialError) -> HTTPException:
    """What the caller is told: the camera and the kind of failure, never a credential."""
    if isinstance(exc, OnvifNoPtzError):
        return HTTPException(status.HTTP_404_NOT_FOUND, f"camera {camera_id!r} has no PTZ: {exc}")
    if isinstance(exc, OnvifPresetError):
        return HTTPException(status.HTTP_404_NOT_FOUND, f"camera {camera_id!r}: {exc}")
    if isinstance(exc, OnvifUnreachable):
        return HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, f"camera {camera_id!r}: {exc}")
    if isinstance(exc, OnvifAuthError):
        # The client's message names the user; the caller needs only what to fix.
        return HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"camera {camera_id!r}: its ONVIF device refused the platform's credentials "
            "(check the camera's credentials reference)",
        )
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"camera {camera_id!r}: {exc}")


@asynccontextmanager
async def _session(runtime: Runtime, camera: Camera) -> AsyncIterator[PtzSession]:
    onvif = camera.onvif
    if onvif is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera {camera.id!r} has no ONVIF device")
    try:
        user = password = ""
        if onvif.credentials is not None:
            creds = resolve_credentials(onvif.credentials, runtime.settings.secrets_file)
            user, password = creds.username, creds.password
        async with runtime.ptz.session(onvif.host, onvif.port, user, password) as ptz:
            yield ptz
    except (OnvifError, CredentialError) as exc:
        log.warning("PTZ on camera %s: %s", camera.id, exc)
        raise _http_error(camera.id, exc) from None


async def _control(
    runtime: Runtime,
    registry: Registry,
    scope: CameraScope,
    camera_id: str,
    action: str,
    detail: Mapping[str, object],
    operate: Callable[[PtzSession], Awaitable[T]],
) -> T:
    """Run `operate` on the camera's PTZ and audit it with its outcome."""
    camera = await require_camera(runtime, registry, scope, camera_id, action)
    outcome: Outcome = "error"
    try:
        async with _session(runtime, camera) as ptz:
            result = await operate(ptz)
        outcome = "ok"
        return result
    except HTTPException as exc:
        detail = {**detail, "error": exc.detail}  # the audit says why it failed
        raise
    finally:
        entry = entry_for(scope.principal, action, f"camera:{camera_id}", outcome, detail)
        await run_in_threadpool(audit, runtime, entry)


async def _command(
    runtime: Runtime,
    registry: Registry,
    scope: CameraScope,
    camera_id: str,
    action: str,
    detail: Mapping[str, object],
    command: Callable[[PtzSession], Awaitable[None]],
) -> PositionOut:
    """`_control` for a command that answers nothing: the answer is where the camera is."""

    async def operate(ptz: PtzSession) -> PtzPosition:
        await command(ptz)
        return await ptz.status()

    return _position(await _control(runtime, registry, scope, camera_id, action, detail, operate))


@router.get(
    "/{camera_id}/ptz",
    response_model=PtzOut,
    summary="A camera's PTZ position and presets",
    dependencies=[audited_read("ptz.status")],
    description="404 when the camera has no ONVIF device or its device has no PTZ service.",
    responses=_RESPONSES,
)
async def get_ptz(
    camera_id: str, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PtzOut:
    camera = await require_camera(runtime, registry, scope, camera_id, "camera.ptz.read")
    async with _session(runtime, camera) as ptz:
        position = await ptz.status()
        presets = await ptz.presets()
    principal = scope.principal
    return PtzOut(
        camera_id=camera_id,
        position=_position(position),
        presets=[PresetOut(token=p.token, name=p.name) for p in presets],
        can_control=principal is None or principal.has_any(PTZ_OPERATORS),
    )


@router.post(
    "/{camera_id}/ptz/move",
    response_model=PositionOut,
    summary="Move at these velocities for a while, then stop",
    description="Answers once the camera has stopped, with where it stopped. The device is "
    "also told to stop by itself after `duration_s`, should the API go away mid-move.",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def move(
    camera_id: str, body: MoveIn, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PositionOut:
    async def operate(ptz: PtzSession) -> PtzPosition:
        return await ptz.move_for(body.pan, body.tilt, body.zoom, body.duration_s)

    detail = body.model_dump()
    return _position(
        await _control(runtime, registry, scope, camera_id, "camera.ptz.move", detail, operate)
    )


@router.post(
    "/{camera_id}/ptz/start",
    response_model=PositionOut,
    summary="Start (or keep) moving at these velocities, for a held button",
    description="Answers at once. The device stops by itself after `timeout_s` unless the "
    "request is repeated before then (a wall renews it while the button is held, then "
    "calls `stop`), so a wall that goes away never leaves the camera turning.",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def start(
    camera_id: str, body: StartIn, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PositionOut:
    def command(ptz: PtzSession) -> Awaitable[None]:
        return ptz.continuous_move(body.pan, body.tilt, body.zoom, timeout_s=body.timeout_s)

    action, detail = "camera.ptz.start", body.model_dump()
    return await _command(runtime, registry, scope, camera_id, action, detail, command)


@router.post(
    "/{camera_id}/ptz/step",
    response_model=PositionOut,
    summary="Step by these fractions of each axis (a relative move)",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def step(
    camera_id: str, body: StepIn, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PositionOut:
    def command(ptz: PtzSession) -> Awaitable[None]:
        return ptz.relative_move(body.pan, body.tilt, body.zoom)

    action, detail = "camera.ptz.step", body.model_dump()
    return await _command(runtime, registry, scope, camera_id, action, detail, command)


@router.post(
    "/{camera_id}/ptz/stop",
    response_model=PositionOut,
    summary="Stop any move",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def stop(
    camera_id: str, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PositionOut:
    return await _command(
        runtime, registry, scope, camera_id, "camera.ptz.stop", {}, lambda ptz: ptz.stop()
    )


@router.post(
    "/{camera_id}/ptz/home",
    response_model=PositionOut,
    summary="Go to the home position",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def home(
    camera_id: str, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PositionOut:
    return await _command(
        runtime, registry, scope, camera_id, "camera.ptz.home", {}, lambda ptz: ptz.goto_home()
    )


@router.post(
    "/{camera_id}/ptz/presets/{token}/goto",
    response_model=PositionOut,
    summary="Go to a preset",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def goto_preset(
    camera_id: str, token: PresetToken, registry: RegistryDep, scope: ScopeDep, runtime: RuntimeDep
) -> PositionOut:
    action, detail = "camera.ptz.preset.goto", {"token": token}
    return await _command(
        runtime, registry, scope, camera_id, action, detail, lambda ptz: ptz.goto_preset(token)
    )


@router.post(
    "/{camera_id}/ptz/presets",
    response_model=PresetOut,
    status_code=status.HTTP_201_CREATED,
    summary="Save the current position as a preset",
    description="With `token`, that preset is moved here (and renamed); without, a new one.",
    responses=_RESPONSES,
    dependencies=[require(*PTZ_OPERATORS)],
)
async def save_preset(
    camera_id: str,
    body: Annotated[PresetIn, Body()],
    registry: RegistryDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
) -> PresetOut:
    async def operate(ptz: PtzSession) -> str:
        return await ptz.set_preset(body.name, body.token)

    action, detail = "camera.ptz.preset.save", body.model_dump()
    token = await _control(runtime, registry, scope, camera_id, action, detail, operate)
    return PresetOut(token=token, name=body.name)
