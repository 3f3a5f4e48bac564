"""Writing to the outbox: called inside the transaction that creates or escalates an alarm,
so an alarm is never stored without its deliveries, nor a delivery without its alarm."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharpeye.contracts.alarms import Alarm
from sharpeye.contracts.events import severity_of
from sharpeye.store.models import DestinationRow, OutboxItem


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
    for dest in destinations_for(alarm, known):
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
