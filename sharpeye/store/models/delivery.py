"""Where alarms go (duty phones, webhooks) and the durable outbox of what is still to send."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class DestinationRow(Base):
    __tablename__ = "destinations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    # 'webhook' (signed JSON POST) or 'apprise' (any Apprise URL: SMS, DingTalk, email...).
    kind: Mapped[str] = mapped_column(String(16))
    # May hold a token (Apprise URLs do): never returned by the API, redacted in logs.
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Escalation level that reaches it: 0 on-duty desk, 1 duty officer, 2 department head.
    level: Mapped[int] = mapped_column(Integer, default=0)
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)


class OutboxItem(Base):
    """One message for one destination, written in the transaction that made the alarm."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_dest_state_id", "destination_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    destination_id: Mapped[str] = mapped_column(ForeignKey("destinations.id"))
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending → delivered, or → failed after max attempts (kept, shown, retryable).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
