"""Departments: seeded from the registry at startup; more can be added through the API."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.deps import AdminDep, PrincipalDep, RuntimeDep
from sharpeye.registry.schema import DepartmentKind
from sharpeye.store.models import DepartmentRow

router = APIRouter(prefix="/api/departments", tags=["departments"])


class DepartmentIn(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Department id.")
    name: str = Field(min_length=1, max_length=200)
    kind: DepartmentKind = "other"


class DepartmentOut(BaseModel):
    id: str
    name: str
    kind: str
    source: str = Field(description="'registry' (from camera_registry.yaml) or 'api'.")


def _out(d: DepartmentRow) -> DepartmentOut:
    return DepartmentOut(id=d.id, name=d.name, kind=d.kind, source=d.source)


@router.get("", response_model=list[DepartmentOut], summary="List departments")
def list_departments(runtime: RuntimeDep, principal: PrincipalDep) -> list[DepartmentOut]:
    with runtime.sessions() as s:
        return [
            _out(d) for d in s.execute(select(DepartmentRow).order_by(DepartmentRow.id)).scalars()
        ]


@router.post(
    "",
    response_model=DepartmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a department",
    responses={409: {"description": "The id is taken."}},
)
def new_department(body: DepartmentIn, runtime: RuntimeDep, admin: AdminDep) -> DepartmentOut:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        if s.get(DepartmentRow, body.id) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"department {body.id!r} exists")
        row = DepartmentRow(
            id=body.id, name=body.name, kind=body.kind, source="api", created_at=now
        )
        s.add(row)
        append(s, AuditEntry(admin.actor, admin.department, "department.create", body.id), now)
        s.flush()
        return _out(row)
