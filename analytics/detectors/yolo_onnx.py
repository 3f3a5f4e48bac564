"""YOLO detection models in the ultralytics ONNX export layout.

Input `[N, 3, H, W]` RGB 0..1 letterboxed (grey 114 padding, as ultralytics trains);
output `[N, 4 + C, A]`: box centre/size in input pixels, then C class scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from numpy.typing import NDArray

from analytics.detectors.base import Image, nms_detections
from analytics.detectors.runtime import Provider, make_session


class YoloOnnx:
    def __init__(
        self,
        path: Path,
        classes: Sequence[str],
        input_size: tuple[int, int] = (640, 640),
        *,
        provider: Provider = "cpu",
        threads: int = 0,
        score: float = 0.25,
        iou: float = 0.45,
    ) -> None:
        self.session = make_session(path, provider, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.classes = list(classes)
        self.size = input_size
        self.score, self.iou = score, iou

    def letterbox(self, frame: Image) -> tuple[NDArray[np.uint8], float, tuple[int, int]]:
        w, h = self.size
        r = min(w / frame.shape[1], h / frame.shape[0])
        nw, nh = round(frame.shape[1] * r), round(frame.shape[0] * r)
        out = np.full((h, w, 3), 114, np.uint8)
        left, top = (w - nw) // 2, (h - nh) // 2
        out[top : top + nh, left : left + nw] = cv2.resize(frame, (nw, nh))
        return out, r, (left, top)

    def detect(self, frames: Sequence[Image]) -> list[sv.Detections]:
        if not frames:
            return []
        w, h = self.size
        batch = np.empty((len(frames), 3, h, w), np.float32)
        geometry = []
        for i, f in enumerate(frames):
            boxed, r, pad = self.letterbox(f)
            batch[i] = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
            geometry.append((r, pad))
        batch *= 1.0 / 255.0
        (out,) = self.session.run(None, {self.input_name: batch})
        return [
            self._decode(out[i], *geometry[i], frames[i].shape[1], frames[i].shape[0])
            for i in range(len(frames))
        ]

    def _decode(
        self, pred: NDArray[np.float32], r: float, pad: tuple[int, int], width: int, height: int
    ) -> sv.Detections:
        scores_all = pred[4:].T  # anchors × classes
        ids = scores_all.argmax(1)
        conf = scores_all[np.arange(len(ids)), ids]
        keep = conf > self.score
        cx, cy, bw, bh = pred[:4, keep]
        xyxy = np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        xyxy -= np.array([pad[0], pad[1], pad[0], pad[1]], np.float32)
        xyxy /= r
        np.clip(xyxy, 0, [width, height, width, height], out=xyxy)
        return nms_detections(
            xyxy.astype(np.float32), conf[keep], ids[keep].astype(np.int64), self.classes, self.iou
        )
