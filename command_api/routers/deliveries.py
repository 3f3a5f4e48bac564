"""Destinations (duty phones, webhooks) and the outbox: what was sent, what is failing."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.deps import AdminDep, RowId, RuntimeDep
from command_api.routers.problems import unprocessable
from sharpeye.contracts.events import SeverityName
from sharpeye.store.models import DepartmentRow, DestinationRow, OutboxItem

router = APIRouter(tags=["deliveries"])


class DestinationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    department: str
    kind: Literal["webhook", "apprise"] = Field(
        description="'webhook': signed JSON POST to `url`; 'apprise': any Apprise URL "
        "(SMS gateway, dingtalk://, wecom://, feishu://, mailto://, ntfy://, json://...)."
    )
    url: str = Field(min_length=1, max_length=2000, description="Never returned by the API.")
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="Webhook HMAC key."
    )
    level: int = Field(
        default=0, ge=0, le=2, description="0 on-duty desk, 1 duty officer, 2 department head."
    )
    min_severity: SeverityName = "info"
    enabled: bool = True


class DestinationOut(BaseModel):
    id: str
    name: str
    department: str
    kind: str
    scheme: str = Field(description="The URL's scheme only (the rest may hold tokens).")
    has_secret: bool
    level: int
    min_severity: str
    enabled: bool


class DeliveryOut(BaseModel):
    id: int
    destination: str
    alarm_id: int
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None


def _dest_out(d: DestinationRow) -> DestinationOut:
    return DestinationOut(
        id=d.id,
        name=d.name,
        department=d.department_id,
        kind=d.kind,
        scheme=d.url.split(":", 1)[0] if ":" in d.url else "",
        has_secret=bool(d.secret),
        level=d.level,
        min_severity=d.min_severity,
        enabled=d.enabled,
    )


def _delivery_out(o: OutboxItem) -> DeliveryOut:
    return DeliveryOut(
        id=o.id,
        destination=o.destination_id,
        alarm_id=o.alarm_id,
        idempotency_key=o.idempotency_key,
        state=o.state,
        attempts=o.attempts,
        next_attempt_at=o.next_attempt_at,
        last_error=o.last_error,
        created_at=o.created_at,
        delivered_at=o.delivered_at,
    )


@router.get("/api/destinations", response_model=list[DestinationOut], summary="List destinations")
def list_destinations(runtime: RuntimeDep, admin: AdminDep) -> list[DestinationOut]:
    with runtime.sessions() as s:
        rows = s.execute(select(DestinationRow).order_by(DestinationRow.id)).scalars()
        return [_dest_out(d) for d in rows]


@router.put(
    "/api/destinations/{destination_id}",
    response_model=DestinationOut,
    summary="Create or replace a destination",
    responses=unprocessable("Unknown department, or invalid fields."),
)
def put_destination(
    destination_id: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")],
    body: DestinationIn,
    runtime: RuntimeDep,
    admin: AdminDep,
) -> DestinationOut:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        if s.get(DepartmentRow, body.department) is None:
            raise HTTPException(422, f"unknown department {body.department!r}")
        row = s.get(DestinationRow, destination_id)
        if row is None:
            row = DestinationRow(id=destination_id, created_at=now)
            s.add(row)
        row.name, row.department_id, row.kind, row.url = (
            body.name,
            body.department,
            body.kind,
            body.url,
        )
        row.secret, row.level, row.min_severity, row.enabled = (
            body.secret,
            body.level,
            body.min_severity,
            body.enabled,
        )
        s.flush()
        append(
            s,
            AuditEntry(
                admin.actor,
                admin.department,
                "destination.put",
                destination_id,
                "ok",
                {"department": body.department, "kind": body.kind, "level": body.level},
            ),
            now,
        )
        return _dest_out(row)


@router.get(
    "/api/deliveries", response_model=list[DeliveryOut], summary="Outbox items, newest first"
)
def list_deliveries(
    runtime: RuntimeDep,
    admin: AdminDep,
    state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    failing: Annotated[
        bool, Query(description="Only items with at least one failed attempt.")
    ] = False,
    destination: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    query = select(OutboxItem)
    if state is not None:
        query = query.where(OutboxItem.state == state)
    if failing:
        query = query.where(OutboxItem.last_error.is_not(None))
    if destination is not None:
        query = query.where(OutboxItem.destination_id == destination)
    with runtime.sessions() as s:
        rows = s.execute(query.order_by(OutboxItem.id.desc()).limit(limit)).scalars()
        return [_delivery_out(o) for o in rows]


@router.post(
    "/api/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    summary="Send a failed delivery again",
    responses={404: {"description": "No such delivery."}, 409: {"description": "Not failed."}},
)
async def retry_delivery(delivery_id: RowId, runtime: RuntimeDep, admin: AdminDep) -> DeliveryOut:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        row = s.get(OutboxItem, delivery_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no delivery {delivery_id}")
        if row.state != "failed":
            raise HTTPException(status.HTTP_409_CONFLICT, f"delivery {delivery_id} is {row.state}")
        row.state, row.attempts, row.next_attempt_at = "pending", 0, now
        append(
            s, AuditEntry(admin.actor, admin.department, "delivery.retry", row.idempotency_key), now
        )
        out = _delivery_out(row)
    runtime.services.delivery.wake()
    return out
