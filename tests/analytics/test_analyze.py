"""`sharpeye analyze FILE` prints detections, events and sightings as JSON lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np

from analytics.analyze import analyze, file_camera
from analytics.config import AnalyticsConfig, PlateSettings
from analytics.plates.render import render_plate
from sharpeye.models.samples import pull_samples


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_image_people_and_bus(models_data_dir: Path) -> None:
    bus = pull_samples(models_data_dir)["bus.jpg"]
    out = io.StringIO()
    analyze(
        bus,
        models_data_dir,
        config=AnalyticsConfig(evidence=False),
        camera=file_camera("default", [], min_score=0.3),
        out=out,
    )
    (frame,) = lines(out)
    names = [d["class_name"] for d in frame["detections"]]  # type: ignore[index,union-attr]
    assert names.count("person") >= 2
    assert "bus" in names


def test_video_with_a_watchlisted_plate(tmp_path: Path, models_data_dir: Path) -> None:
    video = tmp_path / "gate.mkv"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (640, 360))
    plate = render_plate("皖S12345", 40)
    for i in range(10):
        frame = np.full((360, 640, 3), 60, np.uint8)
        x = 100 + 20 * i
        frame[200 : 200 + plate.shape[0], x : x + plate.shape[1]] = plate
        writer.write(frame)
    writer.release()
    config = AnalyticsConfig(
        evidence=False, plates=PlateSettings(watchlist=["皖S12345"], whole_frame=True)
    )
    out = io.StringIO()
    counts = analyze(
        video, models_data_dir, config=config, camera=file_camera("vehicles", []), fps=None, out=out
    )
    events = [x for x in lines(out) if x["type"] == "event"]
    assert counts["frames"] == 10
    assert events and all(
        e["event_type"] == "watchlist_plate" and e["label"] == "皖S12345" for e in events
    )
