"""Camera groups with their display names, for the wall's tree and tour picker.

Cameras carry group ids only (`GET /api/cameras`); this list gives the names once instead of
repeating them on each of 10,000 cameras. It is scoped like the cameras: a caller sees only
the groups holding at least one camera it may see, so a group's name never reveals a share
the caller has no part in.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter
from pydantic import BaseModel, Field

from command_api.deps import RegistryDep, ScopeDep

router = APIRouter(prefix="/api/groups", tags=["cameras"])


class GroupSummary(BaseModel):
    id: str = Field(description="Group id, as in a camera's `groups`.")
    name: str = Field(description="Display name.")
    department: str = Field(description="Owning department id.")
    department_name: str = Field(description="Owning department's display name.")
    description: str = Field(description="Free text from the registry.")
    cameras: int = Field(description="Cameras of the group the caller may see (at least 1).")


@router.get(
    "",
    response_model=list[GroupSummary],
    summary="List camera groups",
    description="Groups of the registry holding at least one camera the caller may see, in "
    "registry order, with the number of those cameras.",
)
async def list_groups(registry: RegistryDep, scope: ScopeDep) -> list[GroupSummary]:
    # One pass over the cameras (54,000 in a district), not one per group.
    counts: Counter[str] = Counter()
    for camera in registry.cameras:
        if scope.allows(camera.id):
            counts.update(set(camera.groups))
    out: list[GroupSummary] = []
    for group in registry.groups:
        if counts[group.id] == 0:
            continue
        department = registry.departments_by_id.get(group.department)
        out.append(
            GroupSummary(
                id=group.id,
                name=group.name,
                department=group.department,
                department_name=department.name if department else group.department,
                description=group.description,
                cameras=counts[group.id],
            )
        )
    return out
