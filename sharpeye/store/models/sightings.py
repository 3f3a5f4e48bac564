"""The `sightings` table: what trajectory search ("plate X / this face, 08:00–12:00")
reads. Indexed by plate, by face match and by camera+time; the whole Sighting is kept as
JSON (search compares embeddings in Python, or a vector index added later).

Written by the analytics workers (`analytics.store`), read by the command API. Its schema
is part of the Alembic chain (revisions 7c9f73b159a2, b8e4f2a6c1d3, d5c8a1f3e7b9) like every
other table. `sighting_plate_keys` is the index of the OCR-tolerant plate search: each plated
sighting under its folded plate and every one-deletion of it (`analytics.plates.fuzzy`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class SightingRow(Base):
    __tablename__ = "sightings"

    sighting_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    plate: Mapped[str | None] = mapped_column(String(16), index=True)
    plate_score: Mapped[float | None] = mapped_column(Float)
    face_match: Mapped[str | None] = mapped_column(String(64), index=True)
    snapshot_ref: Mapped[str | None] = mapped_column(String(512))
    # Face search scans only these, in time order (ix_sightings_face_time).
    has_face: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    payload: Mapped[str] = mapped_column(Text, doc="The whole Sighting as JSON.")

    __table_args__ = (
        Index("ix_sightings_camera_time", "camera_id", "first_seen"),
        Index("ix_sightings_face_time", "has_face", "first_seen"),
        # Retention deletes by age without scanning the table (e8f2b4c6a0d1).
        Index("ix_sightings_last_seen", "last_seen"),
    )


class SightingAttribute(Base):
    """One searchable attribute of a sighting ('color' = 'white'), for attribute search."""

    __tablename__ = "sighting_attributes"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    sighting_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_sighting_attributes_time", "name", "value", "first_seen"),)


class SightingPlateKey(Base):
    __tablename__ = "sighting_plate_keys"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    sighting_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_sighting_plate_keys_key_time", "key", "first_seen"),)
