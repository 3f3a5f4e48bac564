"""Demo scenes through the real detector: a crowd gathering raises one crowd event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from analytics.config import AnalyticsConfig, RuleSettings
from analytics.pipeline import FrameIn, Pipeline
from analytics.scenes.crowd import gathering, load_annotations, person_cutouts
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
