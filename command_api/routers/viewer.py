"""Viewer tokens: the API decides who may watch a camera; the relay only checks signatures.

The token names the viewer's department, from the caller's scope (its principal); the
scope check here (`require_camera`, which audits each issue and each refusal) is the only
permission check: the relay trusts what this route signed.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from command_api.auth.guard import require_camera
from command_api.deps import CameraScope, RegistryDep, RuntimeDep, ScopeDep, SettingsDep
from relay.settings import RelaySettings, get_relay_settings
from sharpeye.registry import Camera
from sharpeye.settings import Settings
from sharpeye.tokens import DEFAULT_TTL_S, TokenSigner, signer_for

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


class ViewerToken(BaseModel):
    token: str = Field(description="Bearer token for the relay's WHEP endpoints of this camera.")
    expires_at: int = Field(description="Unix time after which the relay refuses it.")
    department: str = Field(description="Department the token was issued to.")
    whep_url: str = Field(description="WHEP endpoint of the sub stream (wall tiles).")
    whep_url_main: str = Field(description="WHEP endpoint of the main stream (full screen).")
    ice_servers: list[dict[str, str]] = Field(
        default_factory=list,
        description="RTCConfiguration.iceServers for the viewer (none by default: no public STUN).",
    )


@lru_cache(maxsize=4)
def _signer(data_dir: Path) -> TokenSigner:
    return signer_for(data_dir)


def get_signer(settings: SettingsDep) -> TokenSigner:
    return _signer(settings.data_dir)


def get_relay(settings: SettingsDep) -> RelaySettings:
    return get_relay_settings()


SignerDep = Annotated[TokenSigner, Depends(get_signer)]
RelayDep = Annotated[RelaySettings, Depends(get_relay)]


def viewer_department(scope: CameraScope, camera: Camera) -> str:
    """Whose permission the token carries: the caller's department, or the camera's owner
    for a scope that names no caller (a machine's all-cameras scope)."""
    if scope.principal is not None and scope.principal.department:
        return scope.principal.department
    return camera.department


@router.post(
    "/{camera_id}/viewer-token",
    response_model=ViewerToken,
    summary="A short-lived token to watch one camera through the relay",
    responses={
        403: {"description": "The camera is outside the caller's scope (the refusal is audited)."},
        404: {"description": "No camera with this id."},
    },
)
async def viewer_token(
    camera_id: str,
    registry: RegistryDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
    signer: SignerDep,
    relay: RelayDep,
) -> ViewerToken:
    camera = await require_camera(
        runtime, registry, scope, camera_id, "camera.view", audit_allowed=True
    )
    department = viewer_department(scope, camera)
    now = time.time()
    token = signer.issue(camera_id, department, DEFAULT_TTL_S, now=now)
    return ViewerToken(
        token=token,
        expires_at=int(now) + DEFAULT_TTL_S,
        department=department,
        whep_url=relay.whep_url(camera_id, "sub"),
        whep_url_main=relay.whep_url(camera_id, "main"),
        ice_servers=relay.ice_server_dicts(),
    )


__all__ = ["Settings", "ViewerToken", "router", "viewer_department"]
