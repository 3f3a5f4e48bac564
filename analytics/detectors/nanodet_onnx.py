"""NanoDet (GFL head) in ONNX: three strides, per-cell class scores and side distributions.

Output layout of the converted human-models NanoDet: for strides 8, 16 and 32, scores
`[N, cells, 80]` (sigmoid already applied) and `[N, cells, 4 * 11]` — for each side (left,
top, right, bottom) a distribution over 0..10 strides whose expectation is the distance.
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

STRIDES = (8, 16, 32)
REG_BINS = 11


class NanodetOnnx:
    def __init__(
        self,
        path: Path,
        classes: Sequence[str],
        input_size: tuple[int, int] = (416, 416),
        *,
        provider: Provider = "cpu",
        threads: int = 0,
        score: float = 0.35,
        iou: float = 0.5,
        letterbox: bool = True,
    ) -> None:
        self.session = make_session(path, provider, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.classes = list(classes)
        self.size = input_size
        self.score, self.iou = score, iou
        # Letterboxing keeps people upright in 16:9 frames (squashing 1280×720 into 416² cost
        # about a third of the people on vtest-720p); the padding goes right/bottom.
        self.letterbox = letterbox
        self._outputs = self._map_outputs()
        self._centres = {s: self._grid(s) for s in STRIDES}

    def _map_outputs(self) -> dict[int, tuple[str, str]]:
        # Outputs are named by the converter, not by stride: match them by shape instead.
        w, h = self.size
        by_cells: dict[int, dict[str, str]] = {}
        for o in self.session.get_outputs():
            cells, width = int(o.shape[1]), int(o.shape[2])
            kind = "cls" if width == len(self.classes) else "reg"
            by_cells.setdefault(cells, {})[kind] = o.name
        out = {}
        for s in STRIDES:
            cells = (w // s) * (h // s)
            pair = by_cells.get(cells, {})
            out[s] = (pair["cls"], pair["reg"])
        return out

    def _grid(self, stride: int) -> NDArray[np.float32]:
        gw = self.size[0] // stride
        idx = np.arange((self.size[1] // stride) * gw)
        return np.column_stack([(idx % gw + 0.5) * stride, (idx // gw + 0.5) * stride]).astype(
            np.float32
        )

    def preprocess(self, frames: Sequence[Image]) -> NDArray[np.float32]:
        batch = np.empty((len(frames), 3, self.size[1], self.size[0]), np.float32)
        for i, f in enumerate(frames):
            canvas: NDArray[np.uint8]
            if self.letterbox:
                w, h = self._scaled(f)
                canvas = np.full((self.size[1], self.size[0], 3), 114, dtype=np.uint8)
                canvas[:h, :w] = cv2.resize(f, (w, h))
            else:
                canvas = np.asarray(cv2.resize(f, self.size), dtype=np.uint8)
            batch[i] = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
        batch *= 1.0 / 255.0
        return batch

    def _scaled(self, frame: Image) -> tuple[int, int]:
        r = min(self.size[0] / frame.shape[1], self.size[1] / frame.shape[0])
        return round(frame.shape[1] * r), round(frame.shape[0] * r)

    def detect(self, frames: Sequence[Image]) -> list[sv.Detections]:
        if not frames:
            return []
        names = [n for s in STRIDES for n in self._outputs[s]]
        raw = dict(
            zip(
                names,
                self.session.run(names, {self.input_name: self.preprocess(frames)}),
                strict=True,
            )
        )
        return [
            self._decode(raw, i, frames[i].shape[1], frames[i].shape[0]) for i in range(len(frames))
        ]

    def _decode(
        self, raw: dict[str, NDArray[np.float32]], i: int, width: int, height: int
    ) -> sv.Detections:
        boxes, scores, ids = [], [], []
        for s in STRIDES:
            cls_name, reg_name = self._outputs[s]
            cls = raw[cls_name][i]
            best = cls.argmax(1)
            conf = cls[np.arange(len(cls)), best]
            keep = conf > self.score
            if not keep.any():
                continue
            reg = raw[reg_name][i][keep].reshape(-1, 4, REG_BINS)
            e = np.exp(reg - reg.max(-1, keepdims=True))
            dist = (e / e.sum(-1, keepdims=True) * np.arange(REG_BINS)).sum(-1) * s
            c = self._centres[s][keep]
            boxes.append(np.column_stack([c - dist[:, :2], c + dist[:, 2:]]))
            scores.append(conf[keep])
            ids.append(best[keep])
        if not boxes:
            return nms_detections(
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                np.zeros(0, np.int64),
                self.classes,
                self.iou,
            )
        xyxy = np.concatenate(boxes).astype(np.float32)
        if self.letterbox:
            r = min(self.size[0] / width, self.size[1] / height)
            xyxy /= r
        else:
            xyxy *= np.array([width / self.size[0], height / self.size[1]] * 2, np.float32)
        np.clip(xyxy, 0, [width, height, width, height], out=xyxy)
        return nms_detections(
            xyxy,
            np.concatenate(scores),
            np.concatenate(ids).astype(np.int64),
            self.classes,
            self.iou,
        )
