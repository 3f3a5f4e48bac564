"""Cloned plates: the same plate where no vehicle could have driven in the time between, on a
real store (SQLite), with the registry's camera locations; raised as an event on the bus."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from analytics.cloned_plate import ClonedPlateRules, cloned_plate_events, distance_km
from analytics.publish import Publisher
from analytics.results import FrameResult
from analytics.store import store_sightings
from sharpeye.contracts.detections import FrameDetections
from sharpeye.contracts.events import EVENTS_STREAM, Box, Event
from sharpeye.contracts.sightings import Sighting
from sharpeye.registry import Camera
from tests.analytics.test_publish import migrated_sqlite

T0 = 1_800_000_000.0
# Hefei city centre, a camera 1 km away, one ~30 km away; the expressway pair ~30 km apart.
PLACES = {
    "centre": (31.8206, 117.2272, "urban"),
    "next-door": (31.8296, 117.2272, "urban"),
    "far": (31.8206, 117.5440, "urban"),
    "exp-a": (31.8206, 117.2272, "expressway"),
    "exp-b": (31.8206, 117.5440, "expressway"),
}


def _camera(cid: str) -> Camera:
    lat, lon, road = PLACES[cid]
    return Camera.model_validate(
        {
            "id": cid,
            "name": cid,
            "department": "police",
            "location": {"lat": lat, "lon": lon, "road": road},
            "streams": {"main": f"rtsp://127.0.0.1:9/{cid}"},
        }
    )


CAMERAS = {cid: _camera(cid) for cid in PLACES}


def _seen(camera: str, at: float, plate: str = "皖S12345") -> Sighting:
    return Sighting(
        camera_id=camera,
        track_id=int(at) % 10_000,
        class_name="car",
        first_seen=at,
        last_seen=at + 4,
        score=0.9,
        box=Box(x1=0.1, y1=0.1, x2=0.3, y2=0.3),
        plate=plate,
        plate_score=0.95,
        snapshot_ref=f"snapshots/{camera}/20270115/t{int(at)}.jpg",
    )


def test_the_far_camera_is_30_km_away() -> None:
    assert 29 < distance_km(CAMERAS["centre"], CAMERAS["far"]) < 31
    assert distance_km(CAMERAS["centre"], CAMERAS["next-door"]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("first", "second", "minutes", "cloned"),
    [
        ("centre", "far", 10, True),  # 180 km/h through town: two cars
        ("centre", "far", 30, False),  # 60 km/h: one car
        ("exp-a", "exp-b", 12, False),  # 150 km/h on an expressway: fast, possible
        ("exp-a", "exp-b", 6, True),  # 300 km/h: not even there
        ("centre", "next-door", 0, False),  # the same junction: never compared
    ],
)
def test_only_an_impossible_drive_is_a_clone(
    tmp_path: Path, first: str, second: str, minutes: float, cloned: bool
) -> None:
    engine = migrated_sqlite(tmp_path)
    earlier, later = _seen(first, T0), _seen(second, T0 + 4 + minutes * 60)
    store_sightings(engine, [earlier])
    store_sightings(engine, [later, _seen("far", T0 + 60, "皖A99999")])  # another plate
    events = cloned_plate_events(engine, [later], CAMERAS, ClonedPlateRules())
    assert bool(events) == cloned
    if cloned:
        (e,) = events
        assert e.event_type == "cloned_plate" and e.camera_id == second and e.label == "皖S12345"
        assert e.attributes["other_camera"] == first
        assert [x.ref for x in e.evidence] == [earlier.snapshot_ref, later.snapshot_ref]
        again = cloned_plate_events(engine, [later], CAMERAS, ClonedPlateRules())
        assert again[0].event_id == e.event_id  # a retried batch gives the same event


def test_the_publisher_raises_it_on_the_bus(tmp_path: Path, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    engine = migrated_sqlite(tmp_path)
    publisher = Publisher(client, engine, fence_of={"far": 4}.get, cameras=lambda: CAMERAS)

    def result(s: Sighting) -> FrameResult:
        detections = FrameDetections(camera_id=s.camera_id, at=s.last_seen, width=640, height=360)
        return FrameResult(detections=detections, sightings=[s])

    publisher.publish([result(_seen("centre", T0))])
    publisher.publish([result(_seen("far", T0 + 300))])  # 30 km in 5 minutes
    events = [Event.from_stream_fields(f) for _, f in client.xrange(EVENTS_STREAM)]
    assert [(e.event_type, e.camera_id, e.fence) for e in events] == [("cloned_plate", "far", 4)]
    client.close()
