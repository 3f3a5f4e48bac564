"""ultralytics itself, for `.pt` and TensorRT `.engine` files (optional extra).

Imported only when a config names `type: ultralytics`; without the package, startup stops
with the install hint instead of skipping detection.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from analytics.detectors.base import DetectorError, Image


class UltralyticsDetector:
    def __init__(self, path: Path, *, device: str = "cpu", score: float = 0.25) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")  # no hub look-ups at run time
        try:
            from ultralytics import YOLO  # type: ignore[import-not-found,unused-ignore]
        except ImportError as e:
            raise DetectorError(
                "detector type 'ultralytics' needs the optional extra: "
                f"pip install 'sharpeye[ultralytics]' ({e})"
            ) from e
        if not path.is_file():
            raise DetectorError(f"ultralytics model {path} does not exist")
        self.model: Any = YOLO(str(path))
        self.device, self.score = device, score
        self.classes = [str(self.model.names[i]) for i in sorted(self.model.names)]

    def detect(self, frames: Sequence[Image]) -> list[sv.Detections]:
        results = self.model.predict(
            list(frames), device=self.device, conf=self.score, verbose=False
        )
        out = []
        for r in results:
            d = sv.Detections.from_ultralytics(r)
            ids: list[int] = [] if d.class_id is None else d.class_id.tolist()
            d.data["class_name"] = np.array([self.classes[i] for i in ids], dtype=np.str_)
            out.append(d)
        return out
