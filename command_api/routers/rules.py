"""Alarm rules: which events become alarms and which departments they go to."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from command_api.alarms.rules import RuleSpec
from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.deps import AdminDep, PrincipalDep, RegistryDep, RuntimeDep
from sharpeye.registry import Registry
from sharpeye.store.models import AlarmRuleRow, DepartmentRow

router = APIRouter(prefix="/api/rules", tags=["rules"])


def _check_references(rule: RuleSpec, registry: Registry, departments: set[str]) -> None:
    problems = [f"unknown department {d!r}" for d in rule.departments if d not in departments]
    problems += [f"unknown camera {c!r}" for c in rule.cameras if c not in registry.cameras_by_id]
    groups = {g.id for g in registry.groups}
    problems += [f"unknown group {g!r}" for g in rule.groups if g not in groups]
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))


@router.get("", response_model=list[RuleSpec], summary="List alarm rules")
def list_rules(runtime: RuntimeDep, principal: PrincipalDep) -> list[RuleSpec]:
    with runtime.sessions() as s:
        rows = s.execute(select(AlarmRuleRow).order_by(AlarmRuleRow.id)).scalars()
        return [RuleSpec.model_validate(r.spec) for r in rows]


@router.get(
    "/{rule_id}", response_model=RuleSpec, responses={404: {"description": "No such rule."}}
)
def get_rule(rule_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> RuleSpec:
    with runtime.sessions() as s:
        row = s.get(AlarmRuleRow, rule_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id!r}")
        return RuleSpec.model_validate(row.spec)


@router.put(
    "/{rule_id}",
    response_model=RuleSpec,
    summary="Create or replace an alarm rule",
    responses={422: {"description": "Invalid rule, or its id differs from the path."}},
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
        spec = body.model_dump(mode="json")
        if row is None:
            s.add(
                AlarmRuleRow(
                    id=rule_id, spec=spec, enabled=body.enabled, created_at=now, updated_at=now
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
    responses={404: {"description": "No such rule."}},
)
def delete_rule(rule_id: str, runtime: RuntimeDep, admin: AdminDep) -> None:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        row = s.get(AlarmRuleRow, rule_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id!r}")
        s.delete(row)
        append(s, AuditEntry(admin.actor, admin.department, "rule.delete", rule_id), now)
