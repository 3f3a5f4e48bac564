"""Cloned plates (套牌车): the same plate at two cameras further apart than any vehicle could
drive in the time between the two sightings.

Checked as plated sightings are stored: each is compared with the plate's other sightings of
the last `window_s` (an indexed lookup by plate). The bound is a speed per road class (the
faster of the two cameras' roads: the vehicle may have taken it) over the straight-line
distance, which is shorter than any road, so a real car is never flagged for driving fast
on a winding road; cameras closer than `min_km` (one junction's arms, GPS error) are never
compared. Both cameras must be in the registry (their locations).

What it raises is an event (`cloned_plate`) on the camera of the later sighting, for the
alarm pipeline; its dedupe key is the plate, so one clone seen again and again within a
rule's cooldown is one alarm.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sharpeye.contracts.events import Event, EvidenceRef
from sharpeye.contracts.sightings import Sighting
from sharpeye.geo import haversine_km
from sharpeye.registry import Camera
from sharpeye.store.models.sightings import SightingRow

EVENT_TYPE = "cloned_plate"


@dataclass(frozen=True)
class ClonedPlateRules:
    # km/h no vehicle exceeds on each class of road, with a margin for clocks and GPS.
    max_kmh: dict[str, float] = field(
        default_factory=lambda: {"urban": 100.0, "arterial": 140.0, "expressway": 180.0}
    )
    min_km: float = 2.0
    window_s: float = 6 * 3600.0


def distance_km(a: Camera, b: Camera) -> float:
    return haversine_km(a.location.lat, a.location.lon, b.location.lat, b.location.lon)


def implausible(
    earlier: Sighting, later: Sighting, cameras: Mapping[str, Camera], rules: ClonedPlateRules
) -> tuple[float, float, float] | None:
    """(km, hours, km/h needed) when no vehicle could have made it, else None."""
    a, b = cameras.get(earlier.camera_id), cameras.get(later.camera_id)
    if a is None or b is None or a.id == b.id:
        return None
    km = distance_km(a, b)
    if km < rules.min_km:
        return None
    hours = max(later.first_seen - earlier.last_seen, 0.0) / 3600
    bound = max(rules.max_kmh.get(a.location.road, 0.0), rules.max_kmh.get(b.location.road, 0.0))
    needed = km / hours if hours > 0 else math.inf
    return (km, hours, needed) if needed > bound else None


def cloned_plate_events(
    engine: Engine,
    sightings: Sequence[Sighting],
    cameras: Mapping[str, Camera],
    rules: ClonedPlateRules | None = None,
) -> list[Event]:
    """Events for the plated `sightings` (already stored) that another sighting of their
    plate makes impossible; at most one per sighting (the most recent contradiction)."""
    rules = rules or ClonedPlateRules()
    plated = [s for s in sightings if s.plate]
    if not plated:
        return []
    events: list[Event] = []
    with Session(engine) as session:
        for s in plated:
            rows = session.execute(
                select(SightingRow.payload)
                .where(
                    SightingRow.plate == s.plate,
                    SightingRow.sighting_id != s.sighting_id,
                    SightingRow.last_seen >= s.first_seen - rules.window_s,
                    SightingRow.last_seen <= s.first_seen,
                )
                .order_by(SightingRow.last_seen.desc())
                .limit(20)
            ).scalars()
            for payload in rows:
                other = Sighting.model_validate_json(payload)
                found = implausible(other, s, cameras, rules)
                if found is not None:
                    events.append(_event(other, s, *found))
                    break
    return events


def _event(earlier: Sighting, later: Sighting, km: float, hours: float, kmh: float) -> Event:
    evidence = [
        EvidenceRef(kind="snapshot", ref=x.snapshot_ref, at=x.first_seen)
        for x in (earlier, later)
        if x.snapshot_ref
    ]
    return Event(
        # Stable: the same pair checked again (a retried batch) is the same event.
        event_id="cloned-" + _digest(f"{earlier.sighting_id}/{later.sighting_id}", 40),
        event_type=EVENT_TYPE,
        camera_id=later.camera_id,
        occurred_at=later.first_seen,
        severity="high",
        score=min(later.plate_score or later.score, earlier.plate_score or earlier.score),
        label=later.plate,
        dedupe_key=f"{EVENT_TYPE}:{_digest(later.plate or '', 16)}",  # tokens are ASCII
        evidence=evidence,
        attributes={
            "plate": later.plate or "",
            "other_camera": earlier.camera_id,
            "distance_km": round(km, 1),
            "minutes_between": round(hours * 60, 1),
            "speed_needed_kmh": round(kmh, 0) if math.isfinite(kmh) else -1,
        },
    )


def _digest(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]
