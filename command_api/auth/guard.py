"""One call for "may this caller touch this camera?", for every router that takes a camera
id (cameras, relay viewer tokens, search, PTZ): 404 for an unknown camera, 403 for one
outside the caller's scope (audited as refused), and optionally the allowed use audited
(a live view's token issue, a search)."""

from __future__ import annotations

from fastapi import HTTPException, status
from starlette.concurrency import run_in_threadpool

from command_api.auth.scope import CameraScope
from command_api.runtime import Runtime, audit, deny, entry_for
from sharpeye.registry import Camera, Registry


async def require_camera(
    runtime: Runtime,
    registry: Registry,
    scope: CameraScope,
    camera_id: str,
    action: str,
    *,
    audit_allowed: bool = False,
    detail: dict[str, object] | None = None,
) -> Camera:
    camera = registry.cameras_by_id.get(camera_id)
    if camera is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera with id {camera_id!r}")
    principal = scope.principal
    if not scope.allows(camera_id):
        department = principal.department if principal else "?"
        raise await run_in_threadpool(
            deny,
            runtime,
            principal,
            action,
            f"camera:{camera_id}",
            f"camera not visible to {department}",
        )
    if audit_allowed:
        entry = entry_for(principal, action, f"camera:{camera_id}", detail=detail)
        await run_in_threadpool(audit, runtime, entry)
    return camera
