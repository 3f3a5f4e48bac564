"""Writing to the outbox: called inside the transaction that creates or escalates an alarm,
so an alarm is never stored without its deliveries, nor a delivery without its alarm."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from command_api.alarms.metrics import alarm_unrouted
from sharpeye.contracts.alarms import Alarm
from sharpeye.contracts.events import severity_of
from sharpeye.store.models import DestinationRow, OutboxItem

log = logging.getLogger(__name__)


def enabled_destinations(session: Session) -> list[DestinationRow]:
    """Every enabled destination (a few per department): read once per batch of alarms."""
    query = (
        select(DestinationRow).where(DestinationRow.enabled.is_(True)).order_by(DestinationRow.id)
    )
    return list(session.execute(query).scalars())


def destinations_for(alarm: Alarm, destinations: list[DestinationRow]) -> list[DestinationRow]:
    """Those of the alarm's departments, at its escalation level, for its severity."""
    level = severity_of(alarm.severity)
    return [
        d
        for d in destinations
        if d.department_id in alarm.departments
        and d.level == alarm.escalation_level
        and severity_of(d.min_severity) <= level  # type: ignore[arg-type]
    ]


def enqueue(
    session: Session,
    alarm: Alarm,
    change: str,
    now: float,
    destinations: list[DestinationRow] | None = None,
) -> list[OutboxItem]:
    """One outbox item per destination; the idempotency key names alarm, step and target."""
    items = []
    payload: dict[str, Any] = {"change": change, "alarm": alarm.model_dump(mode="json")}
    known = enabled_destinations(session) if destinations is None else destinations
    targets = destinations_for(alarm, known)
    if not targets:
        _unrouted(alarm, change, known)
    for dest in targets:
        key = f"alarm-{alarm.id}-{change}-L{alarm.escalation_level}-{dest.id}"
        item = OutboxItem(
            destination_id=dest.id,
            alarm_id=alarm.id,
            idempotency_key=key,
            payload={**payload, "idempotency_key": key},
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(item)
        items.append(item)
    return items


def unrouted_reason(alarm: Alarm, destinations: list[DestinationRow]) -> str:
    """Why no destination takes this alarm (a metric label: a few fixed values)."""
    mine = [d for d in destinations if d.department_id in alarm.departments]
    if not alarm.departments:
        return "no_department"
    if not mine:
        return "no_destination"
    if not any(d.level == alarm.escalation_level for d in mine):
        return "no_destination_at_level"
    return "below_min_severity"


def _unrouted(alarm: Alarm, change: str, destinations: list[DestinationRow]) -> None:
    # An alarm nobody is told about is the worst silent failure a command centre can have:
    # say so once per routing step (creation, each escalation), by name, and count it.
    reason = unrouted_reason(alarm, destinations)
    alarm_unrouted(reason)
    log.warning(
        "alarm %d (%s) routed to nobody: %s for departments %s at escalation level %d, "
        "severity %s (rule %s, camera %s)",
        alarm.id,
        change,
        reason.replace("_", " "),
        ", ".join(alarm.departments) or "none",
        alarm.escalation_level,
        alarm.severity,
        alarm.rule_id,
        alarm.camera_id,
    )


def outbox_counts(session: Session) -> dict[str, int]:
    """Items waiting and given up on (delivered ones are counted as they are sent)."""
    rows = session.execute(
        select(OutboxItem.state, func.count())
        .where(OutboxItem.state.in_(("pending", "failed")))
        .group_by(OutboxItem.state)
    ).all()
    counts = {"pending": 0, "failed": 0}
    counts.update({state: int(n) for state, n in rows})
    return counts


def oldest_pending_created_at(session: Session) -> float | None:
    """Creation time of the oldest undelivered item: an age that grows means delivery stalled."""
    value = session.execute(
        select(func.min(OutboxItem.created_at)).where(OutboxItem.state == "pending")
    ).scalar()
    return float(value) if value is not None else None
