"""Events and sightings reach Redis Streams and the store; the live runner end to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from sqlalchemy import Engine, func, select

from analytics.config import AnalyticsConfig
from analytics.pipeline import Pipeline
from analytics.publish import Publisher
from analytics.runner import AnalyticsRunner
from analytics.store import find_by_plate, store_sightings
from ingest.frames import SampledFrame
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.contracts.sightings import SIGHTINGS_STREAM, Sighting
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, upgrade_database
from sharpeye.store.models.sightings import SightingRow
from tests.analytics.conftest import Frame
from tests.analytics.scenes import ScriptedDetector, camera

pytestmark = pytest.mark.integration


def migrated_sqlite(tmp_path: Path) -> Engine:
    """A store migrated to head, as the workers open it (the table comes from migrations)."""
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    )
    upgrade_database(settings)
    return create_engine_for(settings)


class FakeEngine:
    """The ingest engine's frame side: a list of frames per camera, then nothing."""

    def __init__(self, frames: dict[str, list[Frame]]) -> None:
        self.frames = frames
        self.done: set[str] = set()

    def wait_frame(
        self, camera_id: str, after_seq: int = 0, timeout: float = 5.0
    ) -> SampledFrame | None:
        frames = self.frames[camera_id]
        time.sleep(0.05)  # a camera at 20 fps: the consumer keeps up, nothing is replaced
        if after_seq >= len(frames):
            self.done.add(camera_id)
            return None
        return SampledFrame(
            camera_id, frames[after_seq], 0.0, 1_800_000_000 + after_seq, True, after_seq + 1
        )


def test_runner_publishes_events_and_sightings(
    redis_url: str,
    tmp_path: Path,
    clip_frames: Callable[[str, list[int]], list[Frame]],
    models_data_dir: Path,
) -> None:
    zone = {"id": "z", "name": "Z", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}
    cams = [camera(f"c{i}", profile="intrusion", zones=[zone]) for i in range(2)]
    frames = clip_frames("vtest-360p", list(range(0, 100, 10)))
    script = ScriptedDetector(lambda i: [("person", [100.0, 100.0, 140.0, 200.0], 0.9)])
    pipeline = Pipeline(
        cams,
        AnalyticsConfig(evidence=False, batch_size=4, batch_wait_ms=20),
        models_data_dir,
        detector=script,
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.delete(EVENTS_STREAM, SIGHTINGS_STREAM)
    db = migrated_sqlite(tmp_path)
    engine = FakeEngine({"c0": frames, "c1": frames})
    # c0's lease token is 7 (ingest's leases stamp it); c1 was never leased (no token).
    publisher = Publisher(client, db, fence_of={"c0": 7}.get)
    runner = AnalyticsRunner(engine, pipeline, publisher, ["c0", "c1"])  # type: ignore[arg-type]
    runner.start()
    deadline = time.monotonic() + 60
    while (len(engine.done) < 2 or runner.batcher.pending) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the last batch in flight
    runner.stop()
    events = [Event.from_stream_fields(f) for _, f in client.xrange(EVENTS_STREAM)]
    assert sorted((e.camera_id, e.event_type) for e in events) == [
        ("c0", "intrusion"),
        ("c1", "intrusion"),
    ]
    assert {e.camera_id: e.fence for e in events} == {"c0": 7, "c1": None}
    sightings = [Sighting.from_stream_fields(f) for _, f in client.xrange(SIGHTINGS_STREAM)]
    assert {s.camera_id for s in sightings} == {"c0", "c1"}
    with db.connect() as c:
        stored = c.execute(select(func.count()).select_from(SightingRow)).scalar()
    assert stored == len({s.sighting_id for s in sightings})
    assert pipeline.stats.frames >= 10


def test_store_finds_a_plate_in_a_time_window(tmp_path: Path) -> None:
    db = migrated_sqlite(tmp_path)
    from sharpeye.contracts.events import Box

    box = Box(x1=0.1, y1=0.1, x2=0.2, y2=0.2)
    rows = [
        Sighting(
            camera_id=c,
            track_id=i,
            class_name="car",
            first_seen=t,
            last_seen=t + 5,
            score=0.9,
            box=box,
            plate=p,
        )
        for i, (c, t, p) in enumerate(
            [
                ("a", 100.0, "皖S12345"),
                ("b", 200.0, "皖S12345"),
                ("c", 150.0, "京A12345"),
                ("d", 900.0, "皖S12345"),
            ]
        )
    ]
    store_sightings(db, rows)
    store_sightings(db, rows[:1])  # at least once: a repeat is stored once
    got = find_by_plate(db, "皖S12345", 0.0, 500.0)
    assert [s.camera_id for s in got] == ["a", "b"]
    assert np.isclose(got[0].score, 0.9)


def test_live_fleet_through_ingest_engine_to_redis(
    fleet_factory: Callable[..., Any], redis_url: str, models_data_dir: Path
) -> None:
    """Real RTSP cameras (simulated fleet) → ingest engine at 2 fps → analytics → Redis."""
    from camera.spec import StreamSpec
    from ingest.engine import IngestEngine

    fleet = fleet_factory(cameras=2, clip="vtest-360p")
    zone = {
        "id": "square",
        "name": "Square",
        "polygon": [[0.05, 0.3], [0.95, 0.3], [0.95, 0.95], [0.05, 0.95]],
    }
    cams = [camera(c, profile="intrusion", zones=[zone]) for c in ("east", "west")]
    pipeline = Pipeline(cams, AnalyticsConfig(evidence=False), models_data_dir)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.delete(EVENTS_STREAM, SIGHTINGS_STREAM)
    with IngestEngine(node_id="test") as engine:
        for c, path in zip(("east", "west"), fleet.camera_paths, strict=False):
            engine.add(StreamSpec(c, fleet.url(path), sampling="fps", fps=2))
        runner = AnalyticsRunner(engine, pipeline, Publisher(client), ["east", "west"])
        runner.start()
        try:
            deadline = time.monotonic() + 60
            seen: set[str] = set()
            while seen != {"east", "west"} and time.monotonic() < deadline:
                seen = {
                    Event.from_stream_fields(f).camera_id for _, f in client.xrange(EVENTS_STREAM)
                }
                time.sleep(0.2)
        finally:
            runner.stop()
    events = [Event.from_stream_fields(f) for _, f in client.xrange(EVENTS_STREAM)]
    assert {e.camera_id for e in events} == {"east", "west"}
    assert {e.event_type for e in events} == {"intrusion"}
    assert all(e.occurred_at > 1e9 and e.zone_id == "square" for e in events)


def test_the_sightings_stream_keeps_minutes_not_a_million(redis_url: str) -> None:
    """The searchable record is the table; the stream serves live readers and is trimmed by
    age as sightings are added (a cap by count held ~850 MB of Redis at district scale)."""
    from sharpeye.contracts.events import Box
    from sharpeye.contracts.sightings import SIGHTINGS_STREAM_RETENTION_S

    client = redis.Redis.from_url(redis_url)
    client.delete(SIGHTINGS_STREAM)
    old_ms = int((time.time() - SIGHTINGS_STREAM_RETENTION_S - 3600) * 1000)
    pipe = client.pipeline(transaction=False)
    for i in range(1000):  # an hour past the retention
        pipe.xadd(SIGHTINGS_STREAM, {"sighting": "{}"}, id=f"{old_ms + i}-0")
    pipe.execute()
    box = Box(x1=0.1, y1=0.1, x2=0.2, y2=0.2)
    now = time.time()
    fresh = Sighting(
        camera_id="a",
        track_id=1,
        class_name="car",
        first_seen=now,
        last_seen=now,
        score=0.9,
        box=box,
    )
    Publisher(client).publish([], [fresh])
    # Trimming is approximate (whole stream nodes of 100 entries): most old entries go.
    assert client.xlen(SIGHTINGS_STREAM) <= 101
    [(_, fields)] = client.xrevrange(SIGHTINGS_STREAM, count=1)
    assert b"sighting" in fields and fields[b"sighting"] != b"{}"
    client.delete(SIGHTINGS_STREAM)
    client.close()


def test_what_was_seen_after_the_lease_passed_on_is_not_published(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from analytics.results import FrameResult
    from sharpeye.bus.fencing import fence_key
    from sharpeye.contracts.detections import FrameDetections
    from sharpeye.contracts.events import Box

    client = redis.Redis.from_url(redis_url)
    handover = 1_800_000_100.0  # another worker took "c0" under token 8 then
    client.hset(fence_key("c0"), "at:8", int(handover * 1000))
    db = migrated_sqlite(tmp_path)
    box = Box(x1=0.1, y1=0.1, x2=0.2, y2=0.2)

    def seen(camera_id: str, at: float) -> FrameResult:
        detections = FrameDetections(camera_id=camera_id, at=at, width=640, height=360)
        event = Event(event_type="intrusion", camera_id=camera_id, occurred_at=at)
        sighting = Sighting(
            camera_id=camera_id,
            track_id=int(at) % 1000,
            class_name="person",
            first_seen=at - 1,
            last_seen=at,
            score=0.9,
            box=box,
        )
        return FrameResult(detections=detections, events=[event], sightings=[sighting])

    publisher = Publisher(client, db, fence_of={"c0": 7, "c1": 3}.get)
    publisher.publish(
        [seen("c0", handover - 50), seen("c0", handover + 5), seen("c1", handover + 5)]
    )
    events = [Event.from_stream_fields(f) for _, f in client.xrange(EVENTS_STREAM)]
    assert sorted((e.camera_id, e.occurred_at, e.fence) for e in events) == [
        ("c0", handover - 50, 7),  # seen while the lease was ours
        ("c1", handover + 5, 3),  # another camera, never handed over
    ]
    sightings = [Sighting.from_stream_fields(f) for _, f in client.xrange(SIGHTINGS_STREAM)]
    assert sorted((s.camera_id, s.last_seen) for s in sightings) == [
        ("c0", handover - 50),
        ("c1", handover + 5),
    ]
    with db.connect() as c:
        assert c.execute(select(func.count()).select_from(SightingRow)).scalar_one() == 2
    assert "lease on them passed to another worker" in caplog.text
    client.close()
