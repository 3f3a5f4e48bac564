"""The `sightings` table: what trajectory search ("plate X / this face, 08:00–12:00")
reads. Indexed by plate and by camera+time; the face embedding is kept as JSON (search
compares embeddings in Python or a vector index added later).

Created on first use with `create_all(checkfirst)`; the store owner folds it into the
Alembic chain (sharpeye/store/migrations) when the search API lands.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from sharpeye.contracts.sightings import Sighting
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
    payload: Mapped[str] = mapped_column(Text, doc="The whole Sighting as JSON.")

    __table_args__ = (Index("ix_sightings_camera_time", "camera_id", "first_seen"),)


def ensure_table(engine: Engine) -> None:
    Base.metadata.create_all(engine, tables=[SightingRow.__table__], checkfirst=True)  # type: ignore[list-item]


def store_sightings(engine: Engine, sightings: list[Sighting]) -> None:
    if not sightings:
        return
    with Session(engine) as s, s.begin():
        for x in sightings:
            s.merge(
                SightingRow(
                    sighting_id=x.sighting_id,
                    camera_id=x.camera_id,
                    track_id=x.track_id,
                    class_name=x.class_name,
                    first_seen=x.first_seen,
                    last_seen=x.last_seen,
                    score=x.score,
                    plate=x.plate,
                    plate_score=x.plate_score,
                    face_match=x.face_match,
                    snapshot_ref=x.snapshot_ref,
                    payload=json.dumps(
                        x.model_dump(mode="json", exclude_none=True), ensure_ascii=False
                    ),
                )
            )


def find_by_plate(engine: Engine, plate: str, start: float, end: float) -> list[Sighting]:
    """Sightings of a plate overlapping [start, end], in time order."""
    with Session(engine) as s:
        rows = (
            s.query(SightingRow)
            .filter(
                SightingRow.plate == plate,
                SightingRow.last_seen >= start,
                SightingRow.first_seen <= end,
            )
            .order_by(SightingRow.first_seen)
            .all()
        )
        return [Sighting.model_validate_json(r.payload) for r in rows]
