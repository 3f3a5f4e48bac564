"""The pipeline on real footage (vtest's square) with the real detector, and scripted scenes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from analytics.config import AnalyticsConfig, MotionSettings, RuleSettings
from analytics.pipeline import FrameIn, Pipeline
from tests.analytics.conftest import Frame
from tests.analytics.scenes import ScriptedDetector, camera

T0 = 1_800_000_000.0
SQUARE = [[0.05, 0.3], [0.95, 0.3], [0.95, 0.95], [0.05, 0.95]]


def test_vtest_square_zone_line_crowd_loitering(
    clip_frames: Callable[[str, list[int]], list[Frame]], models_data_dir: Path
) -> None:
    cam = camera(
        "plaza",
        profile="all",
        min_score=0.4,
        zones=[{"id": "square", "name": "Square", "polygon": SQUARE}],
        lines=[{"id": "mid", "name": "Middle", "points": [[0.5, 0.2], [0.5, 1.0]]}],
    )
    rules = RuleSettings(crowd_min_people=3, crowd_hold_s=1.0, loiter_s=6.0)
    pipe = Pipeline([cam], AnalyticsConfig(evidence=False, rules=rules), models_data_dir)
    frames = clip_frames("vtest-360p", list(range(0, 400, 10)))  # 16 s at 2.5 looks/s
    events, sightings = [], []
    for i, f in enumerate(frames):
        (r,) = pipe.process([FrameIn("plaza", f, T0 + i * 0.4)])
        events += r.events
        sightings += r.sightings
        assert all(
            d.class_name in ("person", "car", "truck", "bus") for d in r.detections.detections
        )
    sightings += pipe.flush()
    kinds = {e.event_type for e in events}
    assert {"intrusion", "line_crossing", "crowd", "loitering"} <= kinds
    crowd = next(e for e in events if e.event_type == "crowd")
    assert crowd.value is not None and crowd.value >= 3 and crowd.attributes["density"] > 0
    crossing = [e for e in events if e.event_type == "line_crossing"]
    assert {e.attributes["direction"] for e in crossing} <= {"left_to_right", "right_to_left"}
    people = [s for s in sightings if s.class_name == "person"]
    assert len(people) >= 5
    assert all(s.first_seen <= s.last_seen and s.path for s in people)


def test_static_scene_saves_detector_calls_and_misses_no_arrival(models_data_dir: Path) -> None:
    # 60 s of an empty static scene at 2 fps, then someone walks in and stands in the zone.
    empty = np.full((360, 640, 3), 100, np.uint8)

    def person_at(i: int) -> list[tuple[str, list[float], float]]:
        return [("person", [300.0, 150.0, 340.0, 260.0], 0.9)] if i >= 0 else []

    cam = camera(
        "gate",
        profile="intrusion",
        zones=[
            {"id": "z", "name": "Z", "polygon": [[0.4, 0.3], [0.6, 0.3], [0.6, 0.9], [0.4, 0.9]]}
        ],
    )
    calls: list[int] = []
    script = ScriptedDetector(lambda i: person_at(i) if calls and calls[-1] >= 120 else [])
    pipe = Pipeline([cam], AnalyticsConfig(evidence=False), models_data_dir, detector=script)
    events = []
    for i in range(130):
        frame = empty.copy()
        if i >= 120:
            frame[150:260, 300:340] = 220
        calls.append(i)
        (r,) = pipe.process([FrameIn("gate", frame, T0 + i * 0.5)])
        events += r.events
    # 120 static frames cost 1 + 60 s / 10 s heartbeat = 7 detector runs, not 120.
    assert pipe.stats.detected_frames <= 7 + 10
    assert [e.event_type for e in events] == ["intrusion"]


def test_classes_min_area_and_zones_only_cut_false_alarms(models_data_dir: Path) -> None:
    frame = np.full((360, 640, 3), 100, np.uint8)
    boxes = [
        ("person", [300.0, 150.0, 340.0, 260.0], 0.9),  # in the zone
        ("person", [20.0, 150.0, 60.0, 260.0], 0.9),  # outside every zone
        ("person", [400.0, 200.0, 402.0, 203.0], 0.9),  # a few pixels: noise
        ("car", [450.0, 150.0, 600.0, 260.0], 0.1),  # below every threshold
    ]
    zone = {"id": "z", "name": "Z", "polygon": [[0.3, 0.3], [0.9, 0.3], [0.9, 0.9], [0.3, 0.9]]}
    config = AnalyticsConfig(
        evidence=False, rules=RuleSettings(zones_only=True), motion=MotionSettings(enabled=False)
    )
    pipe = Pipeline(
        [camera("yard", profile="intrusion", zones=[zone])],
        config,
        models_data_dir,
        detector=ScriptedDetector(lambda i: boxes),
    )
    seen = []
    for i in range(3):
        (r,) = pipe.process([FrameIn("yard", frame, T0 + i)])
        seen.append([(d.class_name, d.track_id) for d in r.detections.detections])
    assert seen[-1] == [("person", 1)]


def test_an_events_snapshot_shows_the_detection_and_the_frame_is_kept_unmarked(
    models_data_dir: Path, tmp_path: Path
) -> None:
    import cv2

    empty = np.full((360, 640, 3), 100, np.uint8)
    box = [300.0, 150.0, 340.0, 260.0]
    cam = camera(
        "gate",
        profile="intrusion",
        zones=[
            {"id": "z", "name": "Z", "polygon": [[0.4, 0.3], [0.6, 0.3], [0.6, 0.9], [0.4, 0.9]]}
        ],
    )
    script = ScriptedDetector(lambda i: [("person", box, 0.9)] if i >= 1 else [])
    pipe = Pipeline([cam], AnalyticsConfig(), models_data_dir, detector=script)
    pipe.cameras["gate"].evidence.root = tmp_path  # the store, not the models' data dir
    events = []
    for i in range(30):
        frame = empty.copy()
        if i >= 4:  # someone walks in (motion wakes the detector) and stays
            frame[150:260, 300:340] = 220
        (r,) = pipe.process([FrameIn("gate", frame, T0 + i * 0.5)])
        events += r.events
    (event,) = [e for e in events if e.event_type == "intrusion"]
    snapshot, original = event.evidence[:2]
    assert snapshot.kind == "snapshot" and snapshot.ref.endswith("-marked.jpg")
    assert original.kind == "frame" and snapshot.box == original.box is not None
    drawn = cv2.imread(str(tmp_path / snapshot.ref))
    plain = cv2.imread(str(tmp_path / original.ref))
    assert drawn is not None and plain is not None

    def redness(image: np.ndarray) -> float:  # red over blue on the box's left side
        edge = image[160:250, 299:302].astype(int)
        return float((edge[..., 2] - edge[..., 0]).mean())

    assert redness(drawn) > 80  # drawn in red
    assert abs(redness(plain)) < 20  # the frame as it was: grey
