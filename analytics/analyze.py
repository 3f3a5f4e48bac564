"""`sharpeye analyze FILE`: run the configured analytics on an image or a video file.

Prints one JSON object per line: `{"type": "detections", ...}` per analysed frame,
`{"type": "event", ...}` per event and `{"type": "sighting", ...}` per ended track. How a
user tries a model (`--detector-model` after `sharpeye models import`) on their own footage
before deploying it. Times are the file's modification time plus the frame's offset.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from analytics.config import AnalyticsConfig
from analytics.detectors.config import YoloOnnxConfig
from analytics.pipeline import FrameIn, Pipeline
from sharpeye.registry import Camera, load_registry

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def file_camera(profile: str, tags: list[str], min_score: float = 0.4) -> Camera:
    return Camera.model_validate(
        {
            "id": "file",
            "name": "analyze",
            "department": "local",
            "location": {"lat": 0.0, "lon": 0.0},
            "streams": {"main": "rtsp://127.0.0.1/analyze"},  # unused: frames come from the file
            "tags": tags,
            "analytics": {"profile": profile, "min_score": min_score},
        }
    )


def frames_of(path: Path, fps: float | None) -> Iterator[tuple[float, NDArray[np.uint8]]]:
    """(seconds into the file, BGR frame), sampled at `fps` (every frame when None)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        img = np.asarray(cv2.imread(str(path)), np.uint8) if path.is_file() else None
        if img is None or img.ndim != 3:
            raise ValueError(f"{path}: not a readable image")
        yield 0.0, img
        return
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if fps is not None and t + 1e-6 < next_t:
                continue
            next_t = t + (1.0 / fps if fps else 0.0)
            yield t, np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)


def analyze(
    path: Path,
    data_dir: Path,
    *,
    config: AnalyticsConfig,
    camera: Camera,
    fps: float | None = 2.0,
    out: TextIO = sys.stdout,
    detections: bool = True,
) -> dict[str, int]:
    pipeline = Pipeline([camera], config, data_dir)
    base = path.stat().st_mtime
    counts = {"frames": 0, "events": 0, "sightings": 0}

    def emit(kind: str, payload: dict[str, object]) -> None:
        out.write(json.dumps({"type": kind, **payload}, ensure_ascii=False) + "\n")

    for t, image in frames_of(path, fps):
        (result,) = pipeline.process([FrameIn(camera.id, image, base + t)])
        counts["frames"] += 1
        if detections:
            emit(
                "detections",
                {"t": round(t, 3), **result.detections.model_dump(mode="json", exclude_none=True)},
            )
        for e in result.events:
            counts["events"] += 1
            emit(
                "event",
                {
                    "t": round(e.occurred_at - base, 3),
                    **e.model_dump(mode="json", exclude_none=True),
                },
            )
        for s in result.sightings:
            counts["sightings"] += 1
            emit(
                "sighting", s.model_dump(mode="json", exclude_none=True, exclude={"face_embedding"})
            )
    for s in pipeline.flush():
        counts["sightings"] += 1
        emit("sighting", s.model_dump(mode="json", exclude_none=True, exclude={"face_embedding"}))
    out.flush()
    return counts


def run(
    path: Path,
    data_dir: Path,
    *,
    profile: str = "all",
    tags: list[str] | None = None,
    fps: float | None = 2.0,
    config_file: Path | None = None,
    registry: Path | None = None,
    camera_id: str | None = None,
    detector_model: str | None = None,
    plate_watch: list[str] | None = None,
    face_watch: Path | None = None,
) -> int:
    from analytics.config import load_analytics_config

    config = load_analytics_config(config_file)
    updates: dict[str, object] = {"evidence": False}
    if detector_model:
        updates["detector"] = YoloOnnxConfig(model=detector_model)
    if plate_watch:
        updates["plates"] = config.plates.model_copy(
            update={"watchlist": plate_watch, "whole_frame": True}
        )
    if face_watch:
        updates["faces"] = config.faces.model_copy(update={"watchlist_dir": face_watch})
    config = config.model_copy(update=updates)
    if registry and camera_id:
        reg = load_registry(registry)
        camera = next((c for c in reg.cameras if c.id == camera_id), None)
        if camera is None:
            print(f"error: camera {camera_id!r} is not in {registry}", file=sys.stderr)
            return 2
    else:
        camera = file_camera(profile, tags or [])
    counts = analyze(path, data_dir, config=config, camera=camera, fps=fps)
    print(json.dumps({"type": "summary", **counts}), file=sys.stderr)
    return 0
