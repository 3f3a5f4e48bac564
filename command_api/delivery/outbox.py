"""Writing to the outbox: called inside the transaction that creates or escalates an alarm,
so an alarm is never stored without its deliveries, nor a delivery without its alarm."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharpeye.contracts.alarms import Alarm
from sharpeye.contracts.events import severity_of
from sharpeye.store.models import DestinationRow, OutboxItem


def destinations_for(session: Session, alarm: Alarm) -> list[DestinationRow]:
    """Enabled destinations of the alarm's departments at its escalation level and severity."""
    rows = session.execute(
        select(DestinationRow)
        .where(
            DestinationRow.department_id.in_(alarm.departments),
            DestinationRow.level == alarm.escalation_level,
            DestinationRow.enabled.is_(True),
        )
        .order_by(DestinationRow.id)
    ).scalars()
    level = severity_of(alarm.severity)
    return [d for d in rows if severity_of(d.min_severity) <= level]  # type: ignore[arg-type]


def enqueue(session: Session, alarm: Alarm, change: str, now: float) -> list[OutboxItem]:
    """One outbox item per destination; the idempotency key names alarm, step and target."""
    items = []
    payload: dict[str, Any] = {"change": change, "alarm": alarm.model_dump(mode="json")}
    for dest in destinations_for(session, alarm):
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
