"""The registry's `alarm_rules` in the store, kept equal to the file.

Rules come from two places: the registry file (the district's routing matrix, versioned with
the fleet, reviewed like any other change to it) and administrators through `/api/rules`.
Both live in one table so the consumer reads one list; `source` tells them apart. At start
and on every accepted registry edit, registry rules are created, updated or deleted to match
the file, each change audited with the registry as the actor. The API refuses to edit or
delete a registry rule (the next reload would silently undo the edit); a rule an
administrator created under an id the file later uses is taken over by the file, and that is
audited too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from command_api.audit import AuditEntry, append
from sharpeye.registry import Registry
from sharpeye.store.models import AlarmRuleRow

log = logging.getLogger(__name__)

SOURCE_REGISTRY = "registry"
SOURCE_API = "api"
ACTOR = "registry"


@dataclass(frozen=True)
class RuleSync:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def sync_registry_rules(session: Session, registry: Registry, now: float) -> RuleSync:
    """Make the store's registry rules equal the file's; returns what changed."""
    rows = {row.id: row for row in session.execute(select(AlarmRuleRow)).scalars()}
    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    for rule in registry.alarm_rules:
        spec = rule.model_dump(mode="json")
        row = rows.get(rule.id)
        if row is None:
            session.add(
                AlarmRuleRow(
                    id=rule.id,
                    spec=spec,
                    enabled=rule.enabled,
                    source=SOURCE_REGISTRY,
                    created_at=now,
                    updated_at=now,
                )
            )
            created.append(rule.id)
            _audit(session, "rule.registry.create", rule.id, spec, now)
        elif row.source != SOURCE_REGISTRY or row.spec != spec or row.enabled != rule.enabled:
            detail = dict(spec)
            if row.source != SOURCE_REGISTRY:
                log.warning("alarm rule %r made through the API is now set by the registry", row.id)
                detail["replaced_source"] = row.source
            row.spec, row.enabled, row.source = spec, rule.enabled, SOURCE_REGISTRY
            row.updated_at = now
            updated.append(rule.id)
            _audit(session, "rule.registry.update", rule.id, detail, now)
    wanted = {r.id for r in registry.alarm_rules}
    for row in rows.values():
        if row.source == SOURCE_REGISTRY and row.id not in wanted:
            session.delete(row)
            deleted.append(row.id)
            _audit(session, "rule.registry.delete", row.id, {}, now)
    session.flush()
    result = RuleSync(tuple(created), tuple(updated), tuple(deleted))
    if result:
        log.info(
            "alarm rules from the registry: %d created, %d updated, %d deleted",
            len(created),
            len(updated),
            len(deleted),
        )
    return result


def _audit(
    session: Session, action: str, rule_id: str, detail: dict[str, object], now: float
) -> None:
    append(session, AuditEntry(ACTOR, "", action, rule_id, "ok", dict(detail)), now)
