"""Evidence kept past retention: a lock names one evidence reference (a snapshot, a clip)
for a case; the retention pass leaves locked files and their day folders alone."""

from __future__ import annotations

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class EvidenceLockRow(Base):
    __tablename__ = "evidence_locks"
    __table_args__ = (Index("ix_evidence_locks_camera", "camera_id"),)

    ref: Mapped[str] = mapped_column(String(300), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    case: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    locked_by: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(64))
    locked_at: Mapped[float] = mapped_column(Float)
