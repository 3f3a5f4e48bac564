"""The append-only audit log, chained by a keyed MAC: each record's MAC covers the previous.

The database refuses UPDATE and DELETE on `audit_log` (triggers from migration
f4b7c2d9e1a3); the chain and the exported anchors (command_api.audit.anchors) find a change
made by someone who dropped the triggers first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base

GENESIS_HASH = "0" * 64


class AuditRecord(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The previous record's MAC and this one's (hex HMAC-SHA256; SHA-256 up to keyed_from).
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and MAC. Appenders update it first, which takes
    the write lock on SQLite and the row lock on PostgreSQL, so concurrent appends from
    many processes and API replicas still form one chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    # Records up to this one were chained with plain SHA-256, before the key existed.
    keyed_from: Mapped[int] = mapped_column(Integer, server_default="0")
