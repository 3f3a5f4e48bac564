"""Sightings into and out of the `sightings` table (sharpeye.store.models.sightings).

The table comes from the store's migrations (`upgrade_database`), which every process
that writes or reads it runs at startup; nothing here creates schema.
"""

from __future__ import annotations

import json

from sqlalchemy import ColumnElement, Engine, delete, select
from sqlalchemy.orm import Session

from analytics.plates.fuzzy import plate_keys, plates_match
from sharpeye.contracts.sightings import Sighting
from sharpeye.store.models.sightings import SightingPlateKey, SightingRow


def store_sightings(engine: Engine, sightings: list[Sighting]) -> None:
    if not sightings:
        return
    with Session(engine) as s, s.begin():
        # A sighting stored again (a retry) replaces its plate keys with its current ones.
        plated = [x for x in sightings if x.plate]
        if plated:
            ids = [x.sighting_id for x in plated]
            s.execute(delete(SightingPlateKey).where(SightingPlateKey.sighting_id.in_(ids)))
            s.add_all(
                SightingPlateKey(key=k, sighting_id=x.sighting_id, first_seen=x.first_seen)
                for x in plated
                for k in plate_keys(x.plate or "")
            )
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
                    has_face=x.face_embedding is not None,
                    snapshot_ref=x.snapshot_ref,
                    payload=json.dumps(
                        x.model_dump(mode="json", exclude_none=True), ensure_ascii=False
                    ),
                )
            )


def find_by_plate(
    engine: Engine, plate: str, start: float, end: float, *, fuzzy: bool = False
) -> list[Sighting]:
    """Sightings of a plate overlapping [start, end], in time order. `fuzzy`: also those
    read with another province, a confusable character or one character off
    (`analytics.plates.fuzzy`), found through the plate-key index."""
    if not fuzzy:
        return _find(engine, SightingRow.plate == plate, start, end)
    keys = sorted(plate_keys(plate))
    candidates = (
        select(SightingPlateKey.sighting_id)
        .where(SightingPlateKey.key.in_(keys), SightingPlateKey.first_seen <= end)
        .scalar_subquery()
    )
    found = _find(engine, SightingRow.sighting_id.in_(candidates), start, end)
    return [x for x in found if x.plate is not None and plates_match(plate, x.plate)]


def find_by_person(engine: Engine, person_id: str, start: float, end: float) -> list[Sighting]:
    """Sightings matched to a watchlist person overlapping [start, end], in time order."""
    return _find(engine, SightingRow.face_match == person_id, start, end)


def _find(engine: Engine, match: ColumnElement[bool], start: float, end: float) -> list[Sighting]:
    with Session(engine) as s:
        rows = (
            s.query(SightingRow)
            .filter(match, SightingRow.last_seen >= start, SightingRow.first_seen <= end)
            .order_by(SightingRow.first_seen)
            .all()
        )
        return [Sighting.model_validate_json(r.payload) for r in rows]
