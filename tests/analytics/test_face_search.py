"""The face scan's bounds: at most `max_scan` faces a call, the rest from `next_start`;
at most `max_hits` hits, the nearest; faceless and far sightings never listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from analytics.face_search import find_by_face
from analytics.store import store_sightings
from sharpeye.contracts.sightings import Sighting
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, upgrade_database

T0 = 1_799_812_800.0


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    )
    upgrade_database(settings)
    return create_engine_for(settings)


def sighting(i: int, embedding: np.ndarray | None) -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": f"cam{i}",
            "track_id": i,
            "class_name": "person",
            "first_seen": T0 + 10 * i,
            "last_seen": T0 + 10 * i + 5,
            "score": 0.9,
            "box": {"x1": 0.1, "y1": 0.1, "x2": 0.2, "y2": 0.3},
            "face_embedding": None if embedding is None else [float(v) for v in embedding],
        }
    )


def test_scan_is_bounded_and_continues(engine: Engine) -> None:
    rng = np.random.default_rng(7)
    probe = rng.normal(0, 0.1, 128).astype(np.float32)

    def near(d: float) -> np.ndarray:
        step = rng.normal(0, 1, 128)
        return (probe + d * step / np.linalg.norm(step)).astype(np.float32)

    # Stored out of time order; cam3 has no face, cam5 is far (another person).
    distances = {0: 0.3, 1: 0.1, 2: 0.45, 4: 0.2, 5: 0.9, 6: 0.25}
    rows = [sighting(i, near(d)) for i, d in distances.items()] + [sighting(3, None)]
    store_sightings(engine, rows[::-1])

    whole = find_by_face(engine, probe, T0, T0 + 100)
    assert [h.sighting.camera_id for h in whole.hits] == ["cam0", "cam1", "cam2", "cam4", "cam6"]
    assert [round(h.distance, 3) for h in whole.hits] == [0.3, 0.1, 0.45, 0.2, 0.25]
    assert whole.scanned == 6 and whole.next_start is None and not whole.capped

    first = find_by_face(engine, probe, T0, T0 + 100, max_scan=3)
    assert first.scanned == 3 and first.next_start == T0 + 40  # cam0..cam2, then cam4
    assert [h.sighting.camera_id for h in first.hits] == ["cam0", "cam1", "cam2"]
    assert first.next_start is not None
    rest = find_by_face(engine, probe, first.next_start, T0 + 100, max_scan=3)
    assert [h.sighting.camera_id for h in rest.hits] == ["cam4", "cam6"]
    assert rest.next_start is None

    # Too many hits: the nearest kept, still in time order.
    capped = find_by_face(engine, probe, T0, T0 + 100, max_hits=2)
    assert capped.capped and [h.sighting.camera_id for h in capped.hits] == ["cam1", "cam4"]
    # Matches outside the caller's scope are counted, never shown, and never take a place
    # under the cap: with cam1 and cam4 (the two nearest) hidden, the next two are kept.
    scoped = find_by_face(
        engine, probe, T0, T0 + 100, max_hits=2, allowed=lambda c: c not in {"cam1", "cam4"}
    )
    assert [h.sighting.camera_id for h in scoped.hits] == ["cam0", "cam6"]
    assert scoped.withheld == 2 and scoped.capped
    # One camera only (the camera+time index).
    one = find_by_face(engine, probe, T0, T0 + 100, camera="cam6")
    assert [h.sighting.camera_id for h in one.hits] == ["cam6"] and one.scanned == 1
    # An area on the map: only its cameras are read (none: nothing).
    area = find_by_face(engine, probe, T0, T0 + 100, cameras={"cam0", "cam5", "cam6"})
    assert [h.sighting.camera_id for h in area.hits] == ["cam0", "cam6"] and area.scanned == 3
    assert find_by_face(engine, probe, T0, T0 + 100, cameras=set()).scanned == 0
