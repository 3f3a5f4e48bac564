"""The detector interface and helpers shared by plug-ins (NMS, empty results)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np
import supervision as sv
from numpy.typing import NDArray

Image = NDArray[np.uint8]  # BGR, H×W×3, as ingest decodes it


class DetectorError(RuntimeError):
    """The configured detector cannot run here; the message says what is missing."""


class Detector(Protocol):
    """Detects objects in a batch of frames (any sizes); one `sv.Detections` per frame.

    Boxes are xyxy pixels of the frame given; `data["class_name"]` holds the label.
    """

    @property
    def classes(self) -> Sequence[str]: ...

    def detect(self, frames: Sequence[Image]) -> list[sv.Detections]: ...


def empty() -> sv.Detections:
    d = sv.Detections.empty()
    d.data["class_name"] = np.array([], dtype=np.str_)
    return d


def nms_detections(
    boxes: NDArray[np.float32],
    scores: NDArray[np.float32],
    class_ids: NDArray[np.int64],
    classes: Sequence[str],
    iou: float,
    max_det: int = 300,
) -> sv.Detections:
    """Class-aware NMS over xyxy boxes; the result keeps the highest-scoring boxes."""
    if len(boxes) == 0:
        return empty()
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, iou, top_k=max_det
    )
    idx = np.asarray(keep, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-scores[idx])]
    return sv.Detections(
        xyxy=boxes[idx].astype(np.float32),
        confidence=scores[idx].astype(np.float32),
        class_id=class_ids[idx].astype(int),
        data={"class_name": np.array([classes[i] for i in class_ids[idx]], dtype=np.str_)},
    )
