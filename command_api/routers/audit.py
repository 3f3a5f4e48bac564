"""The audit log for administrators: query it, verify its hash chain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from command_api.audit import verify
from command_api.deps import AdminDep, RuntimeDep
from sharpeye.store.models import AuditRecord

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditOut(BaseModel):
    seq: int
    at: float
    actor: str
    department: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    hash: str


class VerifyOut(BaseModel):
    ok: bool = Field(description="False: a record was changed, removed or reordered.")
    records: int = Field(description="Records checked (up to the first bad one).")
    head_hash: str = Field(description="Hash of the last good record: anchor it externally.")
    first_bad_seq: int | None
    reason: str | None


@router.get("", response_model=list[AuditOut], summary="Query the audit log, newest first")
def query_audit(
    runtime: RuntimeDep,
    admin: AdminDep,
    action: Annotated[str | None, Query(max_length=64, description="e.g. login, alarm.ack")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[Literal["ok", "denied", "error"] | None, Query()] = None,
    since: Annotated[float | None, Query()] = None,
    until: Annotated[float | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    query = select(AuditRecord)
    if action is not None:
        query = query.where(AuditRecord.action == action)
    if actor is not None:
        query = query.where(AuditRecord.actor == actor)
    if outcome is not None:
        query = query.where(AuditRecord.outcome == outcome)
    if since is not None:
        query = query.where(AuditRecord.at >= since)
    if until is not None:
        query = query.where(AuditRecord.at < until)
    with runtime.sessions() as s:
        rows = s.execute(query.order_by(AuditRecord.seq.desc()).limit(limit)).scalars()
        return [
            AuditOut(
                seq=r.seq,
                at=r.at,
                actor=r.actor,
                department=r.department,
                action=r.action,
                target=r.target,
                outcome=r.outcome,
                detail=r.detail,
                hash=r.hash,
            )
            for r in rows
        ]


@router.get("/verify", response_model=VerifyOut, summary="Verify the whole hash chain")
def verify_audit(runtime: RuntimeDep, admin: AdminDep) -> VerifyOut:
    with runtime.sessions() as s:
        result = verify(s)
    return VerifyOut(
        ok=result.ok,
        records=result.records,
        head_hash=result.head_hash,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
    )
