"""Liveness: answers while the process serves; reports its peers without failing on them."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from pydantic import BaseModel, Field

from command_api.deps import RuntimeDep

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
    redis: str = Field(description="'ok', or why the health bus cannot be reached.")
    registry: RegistryStatus


@router.get(
    "/healthz",
    response_model=Liveness,
    summary="Liveness",
    description="Always 200 while the API serves; `redis` and `registry` say what is degraded.",
)
async def healthz(runtime: RuntimeDep) -> Liveness:
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
