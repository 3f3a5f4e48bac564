"""Grants: a department may see the cameras of groups it does not own, until an expiry.

Grants in the registry are listed read-only (source 'registry'); grants made here are
stored, audited and revocable. Both count for every scope check at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.deps import AdminDep, PrincipalDep, RegistryDep, RuntimeDep
from command_api.routers.actors import recorded_actor
from command_api.routers.problems import unprocessable
from sharpeye.store.models import DepartmentRow, GrantRow

router = APIRouter(prefix="/api/grants", tags=["grants"])


class GrantIn(BaseModel):
    department: str = Field(description="Department granted access.")
    groups: list[str] = Field(min_length=1, description="Camera group ids.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="End of the grant, with a timezone; None = until revoked."
    )
    note: str = Field(default="", max_length=500, description="Why: case number, agreement.")


class GrantOut(BaseModel):
    id: str = Field(description="'api-<n>' for stored grants, 'registry-<n>' for the file's.")
    source: str
    department: str
    groups: list[str]
    expires_at: datetime | None
    active: bool
    note: str
    created_by: str | None = None
    revoked_at: float | None = None


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


@router.get(
    "", response_model=list[GrantOut], summary="List grants (own department's unless admin)"
)
def list_grants(
    runtime: RuntimeDep, registry: RegistryDep, principal: PrincipalDep
) -> list[GrantOut]:
    now = runtime.clock.now()
    now_dt = datetime.fromtimestamp(now, UTC)
    out = [
        GrantOut(
            id=f"registry-{i}",
            source="registry",
            department=g.department,
            groups=list(g.groups),
            expires_at=g.expires,
            active=g.active(now_dt),
            note=g.note,
        )
        for i, g in enumerate(registry.grants)
    ]
    with runtime.sessions() as s:
        for row in s.execute(select(GrantRow).order_by(GrantRow.id)).scalars():
            out.append(
                GrantOut(
                    id=f"api-{row.id}",
                    source="api",
                    department=row.department_id,
                    groups=list(row.groups),
                    expires_at=_ts(row.expires_at),
                    active=row.active(now),
                    note=row.note,
                    created_by=row.created_by,
                    revoked_at=row.revoked_at,
                )
            )
    if principal.is_admin:
        return out
    return [g for g in out if g.department == principal.department]


@router.post(
    "",
    response_model=GrantOut,
    status_code=status.HTTP_201_CREATED,
    summary="Grant groups",
    responses=unprocessable("Unknown department or groups, an expiry past, or invalid fields."),
)
def new_grant(
    body: GrantIn, runtime: RuntimeDep, registry: RegistryDep, admin: AdminDep
) -> GrantOut:
    now = runtime.clock.now()
    known = {g.id for g in registry.groups}
    unknown = [g for g in body.groups if g not in known]
    if unknown:
        raise HTTPException(422, f"unknown camera groups: {', '.join(unknown)}")
    expires = body.expires_at.timestamp() if body.expires_at else None
    if expires is not None and expires <= now:
        raise HTTPException(422, "expires_at is in the past")
    with write_scope(runtime.sessions) as s:
        if s.get(DepartmentRow, body.department) is None:
            raise HTTPException(422, f"unknown department {body.department!r}")
        row = GrantRow(
            department_id=body.department,
            groups=list(dict.fromkeys(body.groups)),
            expires_at=expires,
            note=body.note,
            created_by=recorded_actor(admin),
            created_at=now,
        )
        s.add(row)
        s.flush()
        append(
            s,
            AuditEntry(
                admin.actor,
                admin.department,
                "grant.create",
                f"api-{row.id}",
                "ok",
                {
                    "department": body.department,
                    "groups": row.groups,
                    "expires_at": expires,
                    "note": body.note,
                },
            ),
            now,
        )
        return GrantOut(
            id=f"api-{row.id}",
            source="api",
            department=row.department_id,
            groups=list(row.groups),
            expires_at=_ts(row.expires_at),
            active=row.active(now),
            note=row.note,
            created_by=row.created_by,
        )


@router.delete(
    "/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a grant made through the API",
    responses={404: {"description": "No such grant (registry grants are edited in the file)."}},
)
def revoke_grant(grant_id: str, runtime: RuntimeDep, admin: AdminDep) -> None:
    now = runtime.clock.now()
    number = grant_id.removeprefix("api-")
    if not number.isdigit() or int(number) > 2_147_483_647:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API grant {grant_id!r}")
    with write_scope(runtime.sessions) as s:
        row = s.get(GrantRow, int(number))
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API grant {grant_id!r}")
        if row.revoked_at is None:
            row.revoked_at = now
        append(
            s,
            AuditEntry(
                admin.actor,
                admin.department,
                "grant.revoke",
                f"api-{row.id}",
                "ok",
                {"department": row.department_id, "groups": row.groups},
            ),
            now,
        )
