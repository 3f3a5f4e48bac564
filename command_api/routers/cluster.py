"""The operations view of a city's ingest: which worker reads which camera, lease ages,
fencing tokens and each worker's load (`sharpeye status --cluster` shows the same).

Administrators only: it names every camera, whichever department owns it.
"""

from __future__ import annotations

from fastapi import APIRouter

from command_api.deps import AdminDep, RegistryDep, RuntimeDep
from sharpeye.bus.ownership import read_ownership
from sharpeye.contracts.ownership import Ownership

router = APIRouter(tags=["cluster"])


@router.get(
    "/api/cluster",
    response_model=Ownership,
    summary="Ingest workers and their camera leases",
    description="Every ingest worker (heartbeat age, cameras leased, share) and every "
    "registry camera's lease (worker, fencing token, time left, time held), with the cameras "
    "nobody reads and those leased to a worker that stopped.",
)
async def cluster(runtime: RuntimeDep, registry: RegistryDep, admin: AdminDep) -> Ownership:
    return await read_ownership(runtime.redis, [c.id for c in registry.cameras])
