"""Fire and smoke: events on the (synthetic) flame and smoke scenes; none on vtest.avi or
tree.avi footage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from analytics.config import AnalyticsConfig
from analytics.pipeline import FrameIn, Pipeline
from analytics.scenes.flames import with_flames
from analytics.scenes.smoke import with_smoke
from tests.analytics.conftest import Frame
from tests.analytics.scenes import camera

T0 = 1_800_000_000.0


def fire_events(frames: list[Frame], data_dir: Path, kind: str = "fire") -> list[float]:
    pipe = Pipeline([camera("forest", profile="fire")], AnalyticsConfig(evidence=False), data_dir)
    events = []
    for i, f in enumerate(frames):
        (r,) = pipe.process([FrameIn("forest", f, T0 + i * 0.5)])
        events += [e.occurred_at - T0 for e in r.events if e.event_type == kind]
    assert pipe.stats.detector_calls == 0  # the fire profile never runs the object detector
    return events


def test_fire_event_on_flames(
    clip_frames: Callable[[str, list[int]], list[Frame]], models_data_dir: Path
) -> None:
    frames = clip_frames("tree-360p", list(range(0, 300, 12)))  # 2 looks per second
    assert fire_events(frames, models_data_dir) == []
    flames = list(with_flames(iter(frames)))
    got = fire_events(flames, models_data_dir)
    assert len(got) == 1  # one incident (cooldown), raised within the first seconds
    assert got[0] <= 8.0


def test_smoke_event_on_rising_smoke(
    clip_frames: Callable[[str, list[int]], list[Frame]], models_data_dir: Path
) -> None:
    frames = clip_frames("tree-360p", list(range(0, 480, 12)))
    smoky = list(with_smoke(iter(frames)))
    got = fire_events(smoky, models_data_dir, "smoke")
    assert len(got) == 1 and got[0] <= 16.0
    assert fire_events(smoky, models_data_dir, "fire") == []  # grey smoke is not flame


@pytest.mark.parametrize("clip", ["vtest-360p", "tree-360p"])
@pytest.mark.parametrize("kind", ["fire", "smoke"])
def test_no_fire_or_smoke_on_real_footage(
    clip: str,
    kind: str,
    clip_frames: Callable[[str, list[int]], list[Frame]],
    models_data_dir: Path,
) -> None:
    # The whole clip at 2 looks per second (vtest: 78 s, tree: 28 s).
    n = 1950 if clip.startswith("vtest") else 700
    assert fire_events(clip_frames(clip, list(range(0, n, 12))), models_data_dir, kind) == []
