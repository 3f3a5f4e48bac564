"""Alarms: what the command API made of events, as pushed to walls and duty consoles.

The command API publishes an `AlarmMessage` as JSON, sealed (`sharpeye.bus.sealed`), on the
Redis pub/sub channel `ALARMS_CHANNEL` each time an alarm is created or changes (acknowledged,
escalated, resolved, merged with a repeat). Live relays (the wall's WebSocket) forward a
message to a client only when one of `alarm.departments` is the client's department
(administrators see all): `alarm_visible_to` is that rule, in one place.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sharpeye.contracts.events import EvidenceRef, SeverityName

ALARMS_CHANNEL = "sharpeye:alarms"


class AlarmState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


# Allowed lifecycle moves; anything else is a 409.
TRANSITIONS: dict[AlarmState, frozenset[AlarmState]] = {
    AlarmState.NEW: frozenset(
        {AlarmState.ACKNOWLEDGED, AlarmState.RESOLVED, AlarmState.FALSE_ALARM}
    ),
    AlarmState.ACKNOWLEDGED: frozenset({AlarmState.RESOLVED, AlarmState.FALSE_ALARM}),
    AlarmState.RESOLVED: frozenset(),
    AlarmState.FALSE_ALARM: frozenset(),
}

AlarmChange = Literal[
    "created", "repeated", "acknowledged", "escalated", "resolved", "false_alarm", "commented"
]


class Alarm(BaseModel):
    """An alarm as clients see it. Never carries credentials or stream URLs."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(description="Alarm id.")
    rule_id: str = Field(description="The alarm rule that raised it.")
    event_type: str
    camera_id: str
    camera_name: str = Field(description="Display name at the time of the alarm.")
    title: str = Field(description="One line for a pop-up or an SMS.")
    severity: SeverityName
    state: AlarmState
    departments: list[str] = Field(description="Departments the alarm is routed to.")
    dedupe_key: str
    occurred_at: float = Field(description="Unix time of the first event.")
    last_event_at: float = Field(description="Unix time of the latest merged event.")
    created_at: float
    updated_at: float
    event_count: int = Field(ge=1, description="Events merged into this alarm (dedupe).")
    escalation_level: int = Field(
        ge=0, description="0: department on duty; 1: duty officer; 2: department head."
    )
    evidence: list[EvidenceRef] = Field(default_factory=list)
    lat: float | None = None
    lon: float | None = None


class AlarmMessage(BaseModel):
    """One message on `ALARMS_CHANNEL`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["alarm"] = "alarm"
    change: AlarmChange
    alarm: Alarm


def alarm_visible_to(alarm: Alarm, department: str, *, administrator: bool = False) -> bool:
    """Whether a user of `department` may see `alarm` (the live relay's filter)."""
    return administrator or department in alarm.departments
