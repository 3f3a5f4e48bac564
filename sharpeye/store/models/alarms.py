"""Alarm rules, alarms, their routes to departments, their history, and events already seen."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class AlarmRuleRow(Base):
    """One rule; `spec` is the validated `sharpeye.registry.alarm_rules.RuleSpec` as JSON."""

    __tablename__ = "alarm_rules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # "registry": kept equal to the registry's alarm_rules (read-only through the API);
    # "api": created by an administrator through /api/rules.
    source: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class AlarmRow(Base):
    __tablename__ = "alarms"
    __table_args__ = (
        # Dedupe looks up the latest alarm of a rule with a key.
        Index("ix_alarms_rule_key", "rule_id", "dedupe_key", "id"),
        # The escalation pass scans open alarms that are due.
        Index("ix_alarms_state_escalation", "state", "next_escalation_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(128))
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    camera_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    departments: Mapped[list[str]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[float] = mapped_column(Float)
    last_event_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    event_count: Mapped[int] = mapped_column(Integer, default=1)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalate_after_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_escalation_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)


class AlarmRoute(Base):
    """Alarm → department: the index behind "alarms my department may see"."""

    __tablename__ = "alarm_routes"

    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class AlarmNote(Base):
    """One step of an alarm's life: created, escalated, acknowledged, comment, resolved..."""

    __tablename__ = "alarm_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")


class SeenEvent(Base):
    """Event ids already turned into alarms (or dropped): a redelivered entry is a no-op."""

    __tablename__ = "seen_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[float] = mapped_column(Float, index=True)
    alarms: Mapped[int] = mapped_column(Integer, default=0)
