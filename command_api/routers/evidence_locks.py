"""Locking evidence for a case: a locked snapshot or clip outlives retention.

Retention deletes the evidence store's day folders by age (with the sightings they belong
to); evidence a case relies on must stay. Who may: those who export evidence (investigators,
administrators) lock what they may see; only administrators release a lock (releasing is
letting evidence go, a decision above an investigation). Every lock, release and listing is
audited, refusals too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from command_api.audit.reads import audited_read
from command_api.auth.guard import require_camera
from command_api.auth.roles import Role
from command_api.deps import (
    PrincipalDep,
    RegistryDep,
    RuntimeDep,
    ScopeDep,
    SessionsDep,
    SettingsDep,
    audit,
    entry_for,
    require,
)
from command_api.routers.evidence import evidence_path
from command_api.routers.evidence_export import EXPORTERS, ExportIn
from sharpeye.store.db import session_scope
from sharpeye.store.models import EvidenceLockRow

router = APIRouter(prefix="/api/evidence", tags=["evidence"])

RELEASERS = require(Role.ADMINISTRATOR)


class LockIn(ExportIn):
    """The same three fields as an export (what, the case, why): a lock is asked like one."""


class LockOut(BaseModel):
    ref: str
    camera_id: str
    case: str
    reason: str
    locked_by: str
    department: str | None
    locked_at: float = Field(description="Unix time.")


def _out(row: EvidenceLockRow) -> LockOut:
    return LockOut(
        ref=row.ref,
        camera_id=row.camera_id,
        case=row.case,
        reason=row.reason,
        locked_by=row.locked_by,
        department=row.department,
        locked_at=row.locked_at,
    )


def _lock(sessions: sessionmaker[Session], row: EvidenceLockRow) -> EvidenceLockRow:
    """The lock on row.ref: the new one, or the one already there (first case keeps it)."""
    with session_scope(sessions) as s:
        held = s.get(EvidenceLockRow, row.ref)
        if held is not None:
            s.expunge(held)
            return held
        s.add(row)
        s.flush()
        s.expunge(row)
        return row


@router.post(
    "/locks",
    status_code=status.HTTP_201_CREATED,
    response_model=LockOut,
    dependencies=[EXPORTERS],
    summary="Keep an evidence file past retention for a case (a lock already there is "
    "answered as it is)",
    responses={
        403: {"description": "Not a locking role, or the camera is not visible (audited)."},
        404: {"description": "No such evidence; audited."},
    },
)
async def lock_evidence(
    body: LockIn,
    registry: RegistryDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    sessions: SessionsDep,
    principal: PrincipalDep,
) -> LockOut:
    action = "evidence.lock"
    target = f"evidence:{body.ref}"
    try:
        camera_id, path = evidence_path(settings.data_dir / "evidence", body.ref)
    except HTTPException as e:
        entry = entry_for(principal, action, target, "error", {"status": e.status_code})
        await run_in_threadpool(audit, runtime, entry)
        raise
    if camera_id in registry.cameras_by_id:
        await require_camera(runtime, registry, scope, camera_id, action)
    if camera_id not in registry.cameras_by_id or not path.is_file():
        entry = entry_for(principal, action, target, "error", {"status": 404})
        await run_in_threadpool(audit, runtime, entry)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such evidence")
    row = EvidenceLockRow(
        ref=body.ref,
        camera_id=camera_id,
        case=body.case,
        reason=body.reason,
        locked_by=principal.actor,
        department=principal.department,
        locked_at=runtime.clock.now(),
    )
    held = await run_in_threadpool(_lock, sessions, row)
    detail = {"camera": camera_id, "case": body.case, "reason": body.reason}
    if held is not row:
        detail["already_locked_for"] = held.case
    await run_in_threadpool(audit, runtime, entry_for(principal, action, target, detail=detail))
    return _out(held)


@router.get(
    "/locks",
    response_model=list[LockOut],
    dependencies=[EXPORTERS, audited_read("evidence.locks.list")],
    summary="Evidence kept past retention, on the cameras the caller sees",
)
def list_locks(
    scope: ScopeDep,
    sessions: SessionsDep,
    camera: Annotated[str | None, Query(max_length=64, description="Only this camera's.")] = None,
    case: Annotated[str | None, Query(max_length=64, description="Only this case's.")] = None,
) -> list[LockOut]:
    with sessions() as s:
        q = select(EvidenceLockRow).order_by(EvidenceLockRow.locked_at.desc()).limit(1000)
        if camera is not None:
            q = q.where(EvidenceLockRow.camera_id == camera)
        if case is not None:
            q = q.where(EvidenceLockRow.case == case)
        rows = s.execute(q).scalars().all()
        return [_out(r) for r in rows if scope.allows(r.camera_id)]


def _release(sessions: sessionmaker[Session], ref: str) -> EvidenceLockRow | None:
    with session_scope(sessions) as s:
        row = s.get(EvidenceLockRow, ref)
        if row is not None:
            s.delete(row)
            s.flush()
            s.expunge(row)
        return row


@router.delete(
    "/locks/{ref:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[RELEASERS],
    summary="Release a lock: the file goes with its day at the next retention pass",
    responses={404: {"description": "Not locked; audited."}},
)
async def release_lock(
    ref: str, runtime: RuntimeDep, sessions: SessionsDep, principal: PrincipalDep
) -> None:
    action = "evidence.unlock"
    row = await run_in_threadpool(_release, sessions, ref)
    if row is None:
        entry = entry_for(principal, action, f"evidence:{ref}", "error", {"status": 404})
        await run_in_threadpool(audit, runtime, entry)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not locked")
    detail = {"camera": row.camera_id, "case": row.case}
    await run_in_threadpool(
        audit, runtime, entry_for(principal, action, f"evidence:{ref}", detail=detail)
    )
