"""Demo scenes through the real analytics: a crowd gathering raises one crowd event, and each
demo camera's composed clip raises the event its registry alarm rule is there for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest

from analytics.config import AnalyticsConfig, RuleSettings
from analytics.pipeline import FrameIn, Pipeline
from analytics.results import FrameResult
from analytics.scenes.__main__ import write_scene_clips
from analytics.scenes.crowd import gathering, load_annotations, person_cutouts
from sharpeye.contracts.events import Event
from sharpeye.contracts.sightings import Sighting
from sharpeye.registry import Registry, load_registry
from sharpeye.settings import get_settings
from tests.analytics.conftest import Frame
from tests.analytics.scenes import camera

ANNOTATIONS = Path(__file__).resolve().parents[1] / "data" / "vtest_people.json"


def test_crowd_gathering_raises_one_crowd_event(
    clip_frames: Callable[[str, list[int]], list[Frame]], models_data_dir: Path
) -> None:
    ann = load_annotations(ANNOTATIONS)
    idx = sorted(ann)
    people = person_cutouts(dict(zip(idx, clip_frames("vtest-720p", idx), strict=True)), ann)
    background = np.asarray(
        np.median(np.stack(clip_frames("vtest-720p", list(range(0, 1900, 95)))), axis=0), np.uint8
    )
    zone = {
        "id": "meet",
        "name": "Meeting point",
        "polygon": [[0.35, 0.3], [0.75, 0.3], [0.75, 0.85], [0.35, 0.85]],
    }
    cam = camera("plaza", profile="crowd", zones=[zone])
    rules = RuleSettings(crowd_min_people=6, crowd_hold_s=2.0)
    pipe = Pipeline([cam], AnalyticsConfig(evidence=False, rules=rules), models_data_dir)
    events = []
    scene = gathering(background, people[:10], frames=24, arrive_by=12)
    for i, f in enumerate(scene):  # 2 looks per second
        (r,) = pipe.process([FrameIn("plaza", f, 1_800_000_000 + i * 0.5)])
        events += [e for e in r.events if e.event_type == "crowd"]
        if i < 4:
            assert not r.events  # still scattered at the edges
    assert len(events) == 1 and events[0].zone_id == "meet"
    assert events[0].value is not None and events[0].value >= 6


# --- The demo district's composed clips, through its own registry ------------------------
# Each scene camera of camera_registry.yaml is run over the clip it is served, at its own
# sampling, with the real models; its events must be what the registry's alarm rules turn
# into alarms (so a rule's zone, line, threshold or arming cannot silently miss the scene).

REPO = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2027, 3, 2, 3, 0, tzinfo=SHANGHAI).timestamp()  # a Tuesday, 03:00
NOON = datetime(2027, 3, 2, 12, 0, tzinfo=SHANGHAI).timestamp()
JUNCTION_PLATES = {"皖S12345", "皖A58226", "粤B6K789"}  # analytics.scenes.JUNCTION_TRAFFIC


@pytest.fixture(scope="module")
def demo() -> Registry:
    return load_registry(REPO / "camera_registry.yaml")


@pytest.fixture(scope="module")
def scene_clips(footage: dict[str, Path]) -> dict[str, Path]:
    """The composed clips `make scenes` wrote (composed here once if they are missing)."""
    data_dir = get_settings().data_dir
    clips = {p.stem: p for p in (data_dir / "footage").glob("synthetic-*.mkv")}
    if not {"synthetic-junction-720p", "synthetic-junction-360p"} <= set(clips):
        clips = {**clips, **write_scene_clips(data_dir)}
    return clips


def sampled(clip: Path, step: float, loops: int) -> Iterator[tuple[float, Frame]]:
    """(seconds on the looping clip's clock, frame) every `step` frames, as a camera serving
    the clip in a loop and a worker sampling it would see them."""
    n, due = 0, 0.0
    for _ in range(loops):
        with av.open(str(clip)) as container:
            for f in container.decode(video=0):
                if n + 1e-6 >= due:
                    due += step
                    yield n / 25, np.asarray(f.to_ndarray(format="bgr24"), np.uint8)
                n += 1


def run_camera(
    demo: Registry, camera_id: str, clip: Path, data_dir: Path, loops: int = 1
) -> tuple[list[Event], list[FrameResult], list[Sighting]]:
    """The registry camera's analytics over the clip, sampled as the registry says
    (keyframes: each GOP's first frame; fps: that rate)."""
    cam = next(c for c in demo.cameras if c.id == camera_id)
    sampling = cam.analytics.sampling
    step = 50.0 if sampling.mode == "keyframes" else 25 / (sampling.fps or 25)
    pipe = Pipeline([cam], AnalyticsConfig(evidence=False), data_dir)
    results = [
        pipe.process([FrameIn(camera_id, f, T0 + t)])[0] for t, f in sampled(clip, step, loops)
    ]
    sightings = [s for r in results for s in r.sightings] + pipe.flush()
    return [e for r in results for e in r.events], results, sightings


def alarms(demo: Registry, camera_id: str, events: list[Event]) -> dict[str, set[str]]:
    """Registry rule id -> the event types it turned into alarms on this camera."""
    cam = next(c for c in demo.cameras if c.id == camera_id)
    out: dict[str, set[str]] = {}
    for e in events:
        for rule in demo.alarm_rules:
            if rule.matches(e, cam):
                out.setdefault(rule.id, set()).add(e.event_type)
    return out


def test_forest_lookout_fire_scene_raises_a_forest_fire_alarm(
    demo: Registry, scene_clips: dict[str, Path], models_data_dir: Path
) -> None:
    events, _, _ = run_camera(
        demo, "forest-lookout-1", scene_clips["synthetic-fire-720p"], models_data_dir, loops=2
    )
    assert "fire" in {e.event_type for e in events}
    assert "fire" in alarms(demo, "forest-lookout-1", events)["forest-fire"]


def test_plaza_crowd_scene_raises_a_plaza_crowd_alarm(
    demo: Registry, scene_clips: dict[str, Path], models_data_dir: Path
) -> None:
    events, _, _ = run_camera(
        demo, "plaza-north", scene_clips["synthetic-crowd-720p"], models_data_dir
    )
    crowds = [e for e in events if e.event_type == "crowd"]
    assert crowds and crowds[0].zone_id == "crowd"
    rule = next(r for r in demo.alarm_rules if r.id == "plaza-crowd")
    assert rule.min_value is not None and max(e.value or 0 for e in crowds) >= rule.min_value
    assert alarms(demo, "plaza-north", events)["plaza-crowd"] == {"crowd"}


def test_school_gate_intrusion_is_an_alarm_at_any_hour(
    demo: Registry, footage: dict[str, Path], models_data_dir: Path
) -> None:
    events, _, _ = run_camera(demo, "school-gate", footage["vtest-720p"], models_data_dir)
    intrusions = [e for e in events if e.event_type == "intrusion"]
    assert {e.zone_id for e in intrusions} >= {"gate-lane"}
    rules = alarms(demo, "school-gate", intrusions)
    # The clip's clock sits at 03:00 local time (night): both rules armed; their zones differ,
    # so one person in one zone is one alarm. At noon only the no-entry lane stays armed.
    assert rules["school-gate-no-entry"] == {"intrusion"}
    cam = next(c for c in demo.cameras if c.id == "school-gate")
    noon = [e.model_copy(update={"occurred_at": NOON}) for e in intrusions]
    by_rule = {r.id: [e for e in noon if r.matches(e, cam)] for r in demo.alarm_rules}
    assert by_rule["school-gate-no-entry"] and not by_rule["school-intrusion-after-hours"]


def test_junction_scene_shows_vehicles_reads_their_plates_and_alarms(
    demo: Registry, scene_clips: dict[str, Path], models_data_dir: Path
) -> None:
    events, results, sightings = run_camera(
        demo, "junction-east", scene_clips["synthetic-junction-720p"], models_data_dir
    )
    seen = [d for r in results for d in r.detections.detections]
    vehicles = {d.class_name for d in seen if d.class_name in ("car", "bus", "truck")}
    assert {"car", "bus"} <= vehicles  # the photographed estate car and bus, not shapes
    assert {d.plate for d in seen if d.plate} >= JUNCTION_PLATES
    assert {s.plate for s in sightings if s.plate} >= JUNCTION_PLATES  # what search finds
    hits = [e for e in events if e.event_type == "watchlist_plate"]
    assert [e.label for e in hits] == ["皖S12345"]  # the registry's watch list, once
    crossings = [e for e in events if e.event_type == "line_crossing"]
    assert {e.label for e in crossings} & {"car", "bus"}
    rules = alarms(demo, "junction-east", events)
    assert rules["watchlist-plate"] == {"watchlist_plate"}
    assert rules["junction-stop-line"] == {"line_crossing"}
