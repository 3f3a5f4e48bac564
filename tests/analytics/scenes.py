"""Helpers building cameras and scripted detectors for pipeline tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import supervision as sv

from sharpeye.registry.schema import Camera


def camera(
    cam_id: str = "cam", profile: str = "default", tags: Sequence[str] = (), **analytics: Any
) -> Camera:
    return Camera.model_validate(
        {
            "id": cam_id,
            "name": cam_id,
            "department": "test",
            "location": {"lat": 31.8, "lon": 117.2},
            "streams": {"main": f"rtsp://127.0.0.1:8554/{cam_id}"},
            "tags": list(tags),
            "analytics": {"profile": profile, **analytics},
        }
    )


class ScriptedDetector:
    """Returns the boxes a script gives for each call (frame index), as a detector would."""

    classes = ("person", "car")

    def __init__(self, script: Callable[[int], list[tuple[str, list[float], float]]]) -> None:
        self.script = script
        self.calls = 0
        self.frames = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        self.calls += 1
        out = []
        for _ in frames:
            items = self.script(self.frames)
            self.frames += 1
            d = sv.Detections(
                xyxy=np.array([b for _, b, _ in items], np.float32).reshape(-1, 4),
                confidence=np.array([s for _, _, s in items], np.float32),
                class_id=np.array([self.classes.index(c) for c, _, _ in items], int),
            )
            d.data["class_name"] = np.array([c for c, _, _ in items], dtype=np.str_)
            out.append(d)
        return out
