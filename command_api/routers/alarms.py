"""Alarms: list and read those routed to the caller's department, acknowledge, resolve,
mark false, comment. Every action is audited; another department's alarm is a 403, audited."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from command_api.alarms.lifecycle import Change, TransitionError, comment, to_alarm, transition
from command_api.alarms.withhold import withhold_camera
from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.audit.reads import audited_read
from command_api.auth.principal import Principal
from command_api.auth.roles import ALARM_HANDLERS
from command_api.deps import (
    CameraScope,
    PrincipalDep,
    RowId,
    Runtime,
    RuntimeDep,
    ScopeDep,
    deny,
    scope_for,
)
from command_api.routers.actors import recorded_actor
from sharpeye.contracts.alarms import Alarm, AlarmState
from sharpeye.store.models import AlarmNote, AlarmRoute, AlarmRow

router = APIRouter(prefix="/api/alarms", tags=["alarms"])


class NoteOut(BaseModel):
    at: float
    actor: str
    action: str
    comment: str


class AlarmDetail(Alarm):
    history: list[NoteOut] = Field(description="Every step: created, escalated, acknowledged...")


class ActionIn(BaseModel):
    comment: str = Field(default="", max_length=2000, description="Why; shown in the history.")


class CommentIn(BaseModel):
    comment: str = Field(min_length=1, max_length=2000)


def _visible(principal: Principal, row: AlarmRow) -> bool:
    return principal.is_admin or principal.department in row.departments


def _for_reader(alarm: Alarm, scope: CameraScope) -> Alarm:
    """The alarm as the caller may see it: routed to its department, but on a camera
    outside its scope, without location, evidence or camera name (as on the socket)."""
    return alarm if scope.allows(alarm.camera_id) else withhold_camera(alarm)


@router.get(
    "",
    response_model=list[Alarm],
    summary="Alarms routed to the caller's department",
    dependencies=[audited_read("alarm.list")],
)
def list_alarms(
    response: Response,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    scope: ScopeDep,
    state: Annotated[AlarmState | None, Query(description="Lifecycle state.")] = None,
    open_only: Annotated[
        bool,
        Query(
            alias="open",
            description="Only open alarms (new or acknowledged): what a wall lists at login.",
        ),
    ] = False,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[float | None, Query(description="Created at or after (Unix time).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[Alarm]:
    query = select(AlarmRow)
    if not principal.is_admin:
        query = query.join(AlarmRoute, AlarmRoute.alarm_id == AlarmRow.id).where(
            AlarmRoute.department_id == principal.department
        )
    if state is not None:
        query = query.where(AlarmRow.state == state.value)
    if open_only:
        query = query.where(
            AlarmRow.state.in_([AlarmState.NEW.value, AlarmState.ACKNOWLEDGED.value])
        )
    if camera_id is not None:
        query = query.where(AlarmRow.camera_id == camera_id)
    if since is not None:
        query = query.where(AlarmRow.created_at >= since)
    with runtime.sessions() as s:
        total = s.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = s.execute(query.order_by(AlarmRow.id.desc()).limit(limit).offset(offset)).scalars()
        response.headers["X-Total-Count"] = str(total)
        return [_for_reader(to_alarm(r), scope) for r in rows]


def _load(runtime: Runtime, principal: Principal, alarm_id: int, action: str) -> None:
    """404 if absent; 403 (audited) if routed elsewhere. Sync: call in a thread."""
    with runtime.sessions() as s:
        row = s.get(AlarmRow, alarm_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
        if not _visible(principal, row):
            raise deny(
                runtime,
                principal,
                action,
                f"alarm:{alarm_id}",
                "alarm not routed to your department",
            )


@router.get(
    "/{alarm_id}",
    response_model=AlarmDetail,
    dependencies=[audited_read("alarm.read")],
    summary="One alarm with its history",
    responses={
        403: {"description": "Routed to another department."},
        404: {"description": "No such alarm."},
    },
)
def get_alarm(
    alarm_id: RowId, runtime: RuntimeDep, principal: PrincipalDep, scope: ScopeDep
) -> AlarmDetail:
    _load(runtime, principal, alarm_id, "alarm.read")
    with runtime.sessions() as s:
        row = s.get(AlarmRow, alarm_id)
        assert row is not None
        notes = s.execute(
            select(AlarmNote).where(AlarmNote.alarm_id == alarm_id).order_by(AlarmNote.id)
        ).scalars()
        history = [
            NoteOut(at=n.at, actor=n.actor, action=n.action, comment=n.comment) for n in notes
        ]
        alarm = _for_reader(to_alarm(row), scope)
        return AlarmDetail(**alarm.model_dump(), history=history)


async def _act(
    runtime: Runtime,
    principal: Principal,
    alarm_id: int,
    action: str,
    target: AlarmState | None,
    text: str,
) -> Alarm:
    def work() -> Change:
        _load(runtime, principal, alarm_id, f"alarm.{action}")
        if not principal.has_any(ALARM_HANDLERS):
            raise deny(
                runtime,
                principal,
                f"alarm.{action}",
                f"alarm:{alarm_id}",
                "needs role administrator, wall_operator or duty_officer",
            )
        now = runtime.clock.now()
        actor = recorded_actor(principal)
        with write_scope(runtime.sessions) as s:
            row = s.get(AlarmRow, alarm_id, with_for_update=True)
            assert row is not None
            try:
                change = (
                    comment(s, row, actor, text, now)
                    if target is None
                    else transition(s, row, target, actor, text, now)
                )
            except TransitionError as e:
                raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
            append(
                s,
                AuditEntry(
                    principal.actor,
                    principal.department,
                    f"alarm.{action}",
                    f"alarm:{alarm_id}",
                    "ok",
                    {"comment": text},
                ),
                now,
            )
            return change

    change = await asyncio.to_thread(work)
    await runtime.services.publish([change])
    scope = await asyncio.to_thread(scope_for, runtime, principal)
    return _for_reader(change.alarm, scope)


_ACTION_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "Routed to another department, or role may not act."},
    404: {"description": "No such alarm."},
    409: {"description": "Not allowed from the alarm's current state."},
}


@router.post(
    "/{alarm_id}/ack", response_model=Alarm, summary="Acknowledge", responses=_ACTION_RESPONSES
)
async def acknowledge(
    alarm_id: RowId, body: ActionIn, runtime: RuntimeDep, principal: PrincipalDep
) -> Alarm:
    return await _act(runtime, principal, alarm_id, "ack", AlarmState.ACKNOWLEDGED, body.comment)


@router.post(
    "/{alarm_id}/resolve", response_model=Alarm, summary="Resolve", responses=_ACTION_RESPONSES
)
async def resolve(
    alarm_id: RowId, body: ActionIn, runtime: RuntimeDep, principal: PrincipalDep
) -> Alarm:
    return await _act(runtime, principal, alarm_id, "resolve", AlarmState.RESOLVED, body.comment)


@router.post(
    "/{alarm_id}/false-alarm",
    response_model=Alarm,
    summary="Mark as false alarm",
    responses=_ACTION_RESPONSES,
)
async def false_alarm(
    alarm_id: RowId, body: ActionIn, runtime: RuntimeDep, principal: PrincipalDep
) -> Alarm:
    return await _act(
        runtime, principal, alarm_id, "false_alarm", AlarmState.FALSE_ALARM, body.comment
    )


@router.post(
    "/{alarm_id}/comments",
    response_model=Alarm,
    summary="Add a comment",
    responses=_ACTION_RESPONSES,
)
async def add_comment(
    alarm_id: RowId, body: CommentIn, runtime: RuntimeDep, principal: PrincipalDep
) -> Alarm:
    return await _act(runtime, principal, alarm_id, "comment", None, body.comment)
