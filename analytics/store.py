"""Sightings into and out of the `sightings` table (sharpeye.store.models.sightings).

The table comes from the store's migrations (`upgrade_database`), which every process
that writes or reads it runs at startup; nothing here creates schema.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from sqlalchemy import ColumnElement, Engine, delete, select
from sqlalchemy.orm import Session

from analytics.plates.fuzzy import plate_keys, plates_match
from sharpeye.contracts.sightings import Sighting
from sharpeye.store.models.sightings import SightingAttribute, SightingPlateKey, SightingRow


def store_sightings(engine: Engine, sightings: list[Sighting]) -> None:
    if not sightings:
        return
    with Session(engine) as s, s.begin():
        # A sighting stored again (a retry) replaces its attributes and plate keys.
        ids = [x.sighting_id for x in sightings]
        s.execute(delete(SightingAttribute).where(SightingAttribute.sighting_id.in_(ids)))
        s.add_all(
            SightingAttribute(name=k, value=v, sighting_id=x.sighting_id, first_seen=x.first_seen)
            for x in sightings
            for k, v in x.attributes.items()
        )
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


def prune_sightings(engine: Engine, before: float, limit: int = 5000) -> int:
    """Delete up to `limit` sightings last seen before `before` (unix time), with their
    attributes and plate keys; returns how many. Called again until it returns less than
    `limit`, so a long backlog goes in bounded transactions."""
    with Session(engine) as s, s.begin():
        ids = list(
            s.execute(
                select(SightingRow.sighting_id)
                .where(SightingRow.last_seen < before)
                .order_by(SightingRow.last_seen)  # oldest first, along ix_sightings_last_seen
                .limit(limit)
            ).scalars()
        )
        if ids:
            for table in (SightingAttribute, SightingPlateKey):
                s.execute(delete(table).where(table.sighting_id.in_(ids)))
            s.execute(delete(SightingRow).where(SightingRow.sighting_id.in_(ids)))
        return len(ids)


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


def find_by_attributes(
    engine: Engine,
    attributes: dict[str, str],
    start: float,
    end: float,
    *,
    class_name: str | None = None,
    cameras: Collection[str] | None = None,
    limit: int = 5000,
) -> list[Sighting]:
    """Sightings with all these attributes (and class, cameras) overlapping [start, end], in
    time order, at most `limit` (an investigator narrows by time or area, not by paging)."""
    match: ColumnElement[bool] = SightingRow.last_seen >= start  # the time filter is _find's
    for name, value in sorted(attributes.items()):
        ids = select(SightingAttribute.sighting_id).where(
            SightingAttribute.name == name,
            SightingAttribute.value == value,
            SightingAttribute.first_seen <= end,
        )
        match = match & SightingRow.sighting_id.in_(ids)
    if class_name is not None:
        match = match & (SightingRow.class_name == class_name)
    if cameras is not None:
        match = match & SightingRow.camera_id.in_(sorted(cameras))
    return _find(engine, match, start, end, limit=limit)


def find_by_person(engine: Engine, person_id: str, start: float, end: float) -> list[Sighting]:
    """Sightings matched to a watchlist person overlapping [start, end], in time order."""
    return _find(engine, SightingRow.face_match == person_id, start, end)


def _find(
    engine: Engine,
    match: ColumnElement[bool],
    start: float,
    end: float,
    limit: int | None = None,
) -> list[Sighting]:
    with Session(engine) as s:
        query = (
            s.query(SightingRow)
            .filter(match, SightingRow.last_seen >= start, SightingRow.first_seen <= end)
            .order_by(SightingRow.first_seen)
        )
        rows = (query.limit(limit) if limit is not None else query).all()
        return [Sighting.model_validate_json(r.payload) for r in rows]
