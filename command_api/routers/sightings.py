"""Trajectory search: where was a plate seen, across the cameras the caller may see.

Investigators (and administrators) only; every search is audited with what it asked and
how many results the caller's scope withheld. Results come in time order, which is the
plate's trajectory across the district.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import Engine

from analytics.plates.text import normalise_plate
from analytics.store import find_by_plate
from command_api.audit.log import AuditEntry
from command_api.auth.roles import Role
from command_api.deps import RuntimeDep, ScopeDep, audit, deny, require
from sharpeye.contracts.sightings import Sighting

router = APIRouter(prefix="/api/sightings", tags=["search"])
MAX_SPAN_S = 31 * 86400.0


def _engine(runtime: RuntimeDep) -> Engine:
    bind = runtime.sessions.kw["bind"]
    # The API migrated the store to head at startup: the sightings table is there.
    assert isinstance(bind, Engine)
    return bind


@router.get(
    "",
    summary="Where a plate was seen",
    response_model=list[Sighting],
    response_model_exclude={"face_embedding"},
    dependencies=[require(Role.INVESTIGATOR, Role.ADMINISTRATOR)],
)
def search_plate(
    runtime: RuntimeDep,
    scope: ScopeDep,
    plate: Annotated[str, Query(min_length=2, max_length=16, description="e.g. 皖S·12345")],
    start: Annotated[float, Query(description="Unix time, inclusive.")],
    end: Annotated[float, Query(description="Unix time, inclusive; at most 31 days later.")],
    camera: Annotated[str | None, Query(description="Only this camera.")] = None,
) -> list[Sighting]:
    canonical = normalise_plate(plate)
    if canonical is None:
        raise HTTPException(422, f"{plate!r} is not a Chinese plate (e.g. 皖S·12345, 粤B·D12345)")
    if not 0 <= end - start <= MAX_SPAN_S:
        raise HTTPException(422, "end must follow start by at most 31 days")
    principal = scope.principal
    if camera is not None and not scope.allows(camera):
        raise deny(runtime, principal, "search.plate", camera, "camera outside the scope")
    found = find_by_plate(_engine(runtime), canonical, start, end)
    visible = [s for s in found if scope.allows(s.camera_id) and camera in (None, s.camera_id)]
    audit(
        runtime,
        AuditEntry(
            actor=principal.actor if principal else "anonymous",
            department=principal.department if principal else "",
            action="search.plate",
            target=canonical,
            detail={
                "start": start,
                "end": end,
                "camera": camera,
                "results": len(visible),
                "withheld": len(found) - len(visible) if camera is None else 0,
            },
        ),
    )
    return visible
