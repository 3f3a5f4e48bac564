"""The audit log for administrators: query it, verify its keyed chain, anchor it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from command_api.audit import verify
from command_api.audit.anchors import anchor_dir, export_anchor, load_anchors
from command_api.audit.background import worker_for
from command_api.deps import AdminDep, Runtime, RuntimeDep
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
    anchors: int = Field(0, description="Exported anchors checked against the chain.")


class AnchorOut(BaseModel):
    seq: int = Field(description="The last record when the anchor was taken (0: empty log).")
    mac: str
    at: float
    file: str = Field(description="The anchor's file in the anchor directory.")


@router.get("", response_model=list[AuditOut], summary="Query the audit log, newest first")
async def query_audit(
    runtime: RuntimeDep,
    admin: AdminDep,
    action: Annotated[str | None, Query(max_length=64, description="e.g. login, alarm.ack")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[Literal["ok", "denied", "error"] | None, Query()] = None,
    since: Annotated[float | None, Query()] = None,
    until: Annotated[float | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    # Reads are audited in batches: write the queued ones so the answer includes them.
    await run_in_threadpool(worker_for(runtime.sessions, runtime.clock).flush)
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
    return await run_in_threadpool(_query, runtime, query, limit)


def _query(runtime: Runtime, query: Any, limit: int) -> list[AuditOut]:
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


@router.get("/verify", response_model=VerifyOut, summary="Verify the chain and its anchors")
def verify_audit(runtime: RuntimeDep, admin: AdminDep) -> VerifyOut:
    worker_for(runtime.sessions, runtime.clock).flush()
    anchors = load_anchors(anchor_dir(runtime.settings.data_dir))
    with runtime.sessions() as s:
        result = verify(s, anchors)
    return VerifyOut(
        ok=result.ok,
        records=result.records,
        head_hash=result.head_hash,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
        anchors=result.anchors,
    )


@router.post("/anchor", response_model=AnchorOut, summary="Export the chain's head now")
def anchor_audit(runtime: RuntimeDep, admin: AdminDep) -> AnchorOut:
    worker_for(runtime.sessions, runtime.clock).flush()
    directory = anchor_dir(runtime.settings.data_dir)
    anchor = export_anchor(runtime.sessions, directory, runtime.clock.now())
    if anchor is None:
        return AnchorOut(seq=0, mac="", at=runtime.clock.now(), file="")
    return AnchorOut(seq=anchor.seq, mac=anchor.mac, at=anchor.at, file=anchor.source)
