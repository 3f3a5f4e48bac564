"""Viewer tokens: the API decides who may watch a camera; the relay checks signatures.

The token names the viewer's department, from the caller's scope (its principal), and the
caller itself (`sub`, `sid`); the scope check here (`require_camera`, which audits each
issue and each refusal) lets a view start, and `POST /api/cameras/viewer-tokens/check`
(called by the relay every few seconds for its playing views, `command_api.auth.viewers`)
ends it once the caller's session, user or grant is gone.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from command_api.auth.guard import require_camera
from command_api.auth.viewers import recheck, subject_of
from command_api.deps import (
    CameraScope,
    RegistryDep,
    RuntimeDep,
    ScopeDep,
    SettingsDep,
    audit,
    entry_for,
    scope_for,
)
from sharpeye.registry import Camera
from sharpeye.relay_settings import RECHECK_PATH, RECHECK_PURPOSE, RelaySettings, get_relay_settings
from sharpeye.settings import Settings
from sharpeye.tokens import DEFAULT_TTL_S, TokenError, TokenSigner, signer_for

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
    principal = scope.principal
    token = signer.issue(
        camera_id,
        department,
        DEFAULT_TTL_S,
        now=now,
        subject=subject_of(principal),
        session_id=principal.session_id if principal else None,
    )
    return ViewerToken(
        token=token,
        expires_at=int(now) + DEFAULT_TTL_S,
        department=department,
        whep_url=relay.whep_url(camera_id, "sub"),
        whep_url_main=relay.whep_url(camera_id, "main"),
        ice_servers=relay.ice_server_dicts(),
    )


class RecheckIn(BaseModel):
    tokens: list[Annotated[str, Field(max_length=4096)]] = Field(
        max_length=1000, description="Viewer tokens of playing views (expired ones too)."
    )


class Refused(BaseModel):
    index: int = Field(description="Position of the token in the request.")
    reason: str = Field(description="Why the API would no longer issue it.")


class RecheckOut(BaseModel):
    refused: list[Refused] = Field(description="The views to close; the others may go on.")


@router.post(
    RECHECK_PATH.removeprefix(router.prefix),
    response_model=RecheckOut,
    summary="For the relay: which playing views may no longer go on",
    responses={401: {"description": "Not called by a relay (refusal audited)."}},
)
async def recheck_viewers(
    body: RecheckIn,
    runtime: RuntimeDep,
    signer: SignerDep,
    authorization: Annotated[str | None, Header()] = None,
) -> RecheckOut:
    """Called by the relay every SHARPEYE_RELAY_RECHECK_S with the tokens of its playing
    views, authenticated by a service token signed with the viewer-token key (which only the
    API and the relays hold). Each refusal is audited (`camera.view.ended`)."""
    scheme, _, credential = (authorization or "").partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise TokenError("no service token")
        signer.verify_service(credential.strip(), RECHECK_PURPOSE)
    except TokenError as exc:
        entry = entry_for(None, "relay.recheck", "viewer-tokens", "denied", {"reason": str(exc)})
        await run_in_threadpool(audit, runtime, entry)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "for the relay only: a service token is required"
        ) from None
    refused = await run_in_threadpool(
        recheck,
        runtime.sessions,
        runtime.registry.registry,
        runtime.clock.now(),
        signer,
        body.tokens,
        lambda principal: scope_for(runtime, principal),
    )
    return RecheckOut(refused=[Refused(index=r.index, reason=r.reason) for r in refused])


__all__ = ["Settings", "ViewerToken", "router", "viewer_department"]
