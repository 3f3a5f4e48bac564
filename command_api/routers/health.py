"""Liveness: answers while the process serves; reports its peers without failing on them.

Load balancers and probes call /healthz without a login: they get `{"status": "ok"}` and
nothing else. The registry's path, its last reload error (a line of the file) and the
Redis address are for administrators, who send their token as on any other call.
"""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from command_api.deps import Runtime, RuntimeDep, _api_key, _bearer, principal_from_credential

router = APIRouter(tags=["health"])


class DistrictOut(BaseModel):
    id: str
    name: str


class RegistryStatus(BaseModel):
    path: str = Field(description="Registry file the API serves.")
    district: DistrictOut
    cameras: int = Field(description="Cameras in the registry.")
    loaded_at: float = Field(description="Unix time the served registry was loaded.")
    reload_error: str | None = Field(
        None,
        description="Why the newest edit of the file was rejected (the last good one is "
        "still served), or None.",
    )


class Liveness(BaseModel):
    status: str = Field(description="'ok' while the process serves requests.")
    redis: str | None = Field(
        None, description="Administrators: 'ok', or why the health bus cannot be reached."
    )
    registry: RegistryStatus | None = Field(None, description="Administrators only.")


async def _is_admin(
    runtime: Runtime,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> bool:
    """Whether the caller (if any) is an administrator; a bad or missing credential is not an
    error here, so a probe never fails on it."""
    credential = api_key or (bearer.credentials if bearer else None)
    if not credential:
        return False
    try:
        principal = await run_in_threadpool(principal_from_credential, runtime, credential)
    except HTTPException:
        return False
    return principal.is_admin


@router.get(
    "/healthz",
    response_model=Liveness,
    response_model_exclude_unset=True,
    summary="Liveness",
    description="Always 200 while the API serves, login or not. For administrators, `redis` "
    "and `registry` say what is degraded; anyone else gets `status` alone.",
)
async def healthz(
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Liveness:
    if not await _is_admin(runtime, bearer, api_key):
        return Liveness(status="ok")
    try:
        await runtime.redis.ping()
        redis_state = "ok"
    except (redis.RedisError, OSError) as e:
        redis_state = f"no Redis at {runtime.redis_url_redacted}: {e}"
    holder = runtime.registry
    reg = holder.registry
    return Liveness(
        status="ok",
        redis=redis_state,
        registry=RegistryStatus(
            path=str(holder.path),
            district=DistrictOut(id=reg.district.id, name=reg.district.name),
            cameras=len(reg.cameras),
            loaded_at=holder.loaded_at,
            reload_error=holder.reload_error,
        ),
    )
