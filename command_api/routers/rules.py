"""Alarm rules: which events become alarms and which departments they go to.

Rules written in the registry's `alarm_rules` are listed here with `source: registry` and
are read-only through the API (409): the file is their single source, and the next reload
would undo an edit made here.

Who reads what: administrators every rule. Anyone else only the rules routed to their
department (a rule names where its cameras are, which zones are watched and when the
arming windows leave them unwatched: another department's is none of their business), and
in those only the cameras in their scope; `cameras_withheld` counts the others, so an empty
`cameras` list is not taken for "every camera". A rule routed elsewhere is a 404 for them,
as if it did not exist, rather than a 403 that would confirm its id; the attempt is audited
as refused all the same.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer
from sqlalchemy import select

from command_api.alarms.registry_rules import SOURCE_API, SOURCE_REGISTRY
from command_api.alarms.rules import RuleSpec
from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.deps import (
    AdminDep,
    CameraScope,
    RegistryDep,
    RuntimeDep,
    ScopeDep,
    audit,
    entry_for,
)
from command_api.routers.problems import unprocessable
from sharpeye.registry import Registry
from sharpeye.store.models import AlarmRuleRow, DepartmentRow

router = APIRouter(prefix="/api/rules", tags=["rules"])


class RuleView(RuleSpec):
    source: Literal["registry", "api"] = Field(
        description="registry: set in camera_registry.yaml (read-only here); api: made here."
    )
    cameras_withheld: int = Field(
        default=0,
        description="Cameras of the rule outside the caller's scope, not listed; absent when "
        "none (so an administrator's GET can be PUT back as it is).",
    )

    @model_serializer(mode="wrap")
    def _omit_nothing_withheld(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not out.get("cameras_withheld"):
            out.pop("cameras_withheld", None)
        return out


def _readable(row: AlarmRuleRow, scope: CameraScope) -> bool:
    principal = scope.principal
    if principal is None or principal.is_admin:
        return True
    departments = row.spec.get("departments") or []
    return principal.department in departments


def _view(row: AlarmRuleRow, scope: CameraScope) -> RuleView:
    spec = dict(row.spec)
    cameras = [str(c) for c in spec.get("cameras") or []]
    shown = [c for c in cameras if scope.allows(c)]
    spec["cameras"] = shown
    return RuleView.model_validate(
        {**spec, "source": row.source, "cameras_withheld": len(cameras) - len(shown)}
    )


def _refuse_registry_rule(rule_id: str, row: AlarmRuleRow | None, registry: Registry) -> None:
    managed = row is not None and row.source == SOURCE_REGISTRY
    if managed or any(r.id == rule_id for r in registry.alarm_rules):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"rule {rule_id!r} is set in the camera registry (alarm_rules); change it there",
        )


def _check_references(rule: RuleSpec, registry: Registry, departments: set[str]) -> None:
    problems = [f"unknown department {d!r}" for d in rule.departments if d not in departments]
    problems += [f"unknown camera {c!r}" for c in rule.cameras if c not in registry.cameras_by_id]
    groups = {g.id for g in registry.groups}
    problems += [f"unknown group {g!r}" for g in rule.groups if g not in groups]
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))


@router.get(
    "",
    response_model=list[RuleView],
    summary="List alarm rules",
    description="Administrators: every rule. Others: the rules routed to their department, "
    "with only the cameras in their scope.",
)
def list_rules(runtime: RuntimeDep, scope: ScopeDep) -> list[RuleView]:
    with runtime.sessions() as s:
        rows = s.execute(select(AlarmRuleRow).order_by(AlarmRuleRow.id)).scalars()
        return [_view(r, scope) for r in rows if _readable(r, scope)]


@router.get(
    "/{rule_id}",
    response_model=RuleView,
    responses={404: {"description": "No such rule, or not routed to the caller's department."}},
)
def get_rule(rule_id: str, runtime: RuntimeDep, scope: ScopeDep) -> RuleView:
    with runtime.sessions() as s:
        row = s.get(AlarmRuleRow, rule_id)
        if row is not None and _readable(row, scope):
            return _view(row, scope)
        hidden = row is not None
    if hidden:
        # Answered as if absent, but a refusal all the same: audited like every other.
        reason = "rule not routed to your department"
        audit(
            runtime,
            entry_for(
                scope.principal, "rule.read", f"rule:{rule_id}", "denied", {"reason": reason}
            ),
        )
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id!r}")


@router.put(
    "/{rule_id}",
    response_model=RuleSpec,
    summary="Create or replace an alarm rule",
    responses={
        409: {"description": "The rule is set in the camera registry."},
        **unprocessable("Invalid rule, or its id differs from the path."),
    },
)
def put_rule(
    rule_id: str, body: RuleSpec, runtime: RuntimeDep, registry: RegistryDep, admin: AdminDep
) -> RuleSpec:
    if body.id != rule_id:
        raise HTTPException(422, f"rule id {body.id!r} differs from the path's {rule_id!r}")
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        departments = set(s.execute(select(DepartmentRow.id)).scalars())
        _check_references(body, registry, departments)
        row = s.get(AlarmRuleRow, rule_id)
        _refuse_registry_rule(rule_id, row, registry)
        spec = body.model_dump(mode="json")
        if row is None:
            s.add(
                AlarmRuleRow(
                    id=rule_id,
                    spec=spec,
                    enabled=body.enabled,
                    source=SOURCE_API,
                    created_at=now,
                    updated_at=now,
                )
            )
            action = "rule.create"
        else:
            row.spec, row.enabled, row.updated_at = spec, body.enabled, now
            action = "rule.update"
        append(s, AuditEntry(admin.actor, admin.department, action, rule_id, "ok", spec), now)
    return body


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an alarm rule (its alarms stay)",
    responses={
        404: {"description": "No such rule."},
        409: {"description": "The rule is set in the camera registry."},
    },
)
def delete_rule(rule_id: str, runtime: RuntimeDep, registry: RegistryDep, admin: AdminDep) -> None:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        row = s.get(AlarmRuleRow, rule_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id!r}")
        _refuse_registry_rule(rule_id, row, registry)
        s.delete(row)
        append(s, AuditEntry(admin.actor, admin.department, "rule.delete", rule_id), now)
