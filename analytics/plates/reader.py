"""Plate reading for a frame: candidates on each vehicle crop → OCR → normalised text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.plates.locate import plate_candidates
from analytics.plates.ocr import TextRecognizer
from analytics.plates.text import normalise_plate


@dataclass(frozen=True)
class PlateRead:
    text: str  # canonical ("皖S12345")
    score: float
    box: tuple[int, int, int, int]  # xyxy in the frame
    region: int  # index of the vehicle box it was found in (-1: whole frame)


class PlateReader:
    def __init__(self, recognizer: TextRecognizer, min_score: float = 0.8) -> None:
        self.recognizer = recognizer
        self.min_score = min_score

    def read(
        self, frame: NDArray[np.uint8], regions: Sequence[Sequence[float]] | None = None
    ) -> list[PlateRead]:
        """One plate at most per region (vehicle box xyxy); the whole frame when None."""
        boxes = (
            [(0, 0, frame.shape[1], frame.shape[0])]
            if regions is None
            else [tuple(int(v) for v in r[:4]) for r in regions]
        )
        crops, where = [], []
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            crop = frame[y1:y2, x1:x2]
            if crop.size == 0:
                continue
            for cx1, cy1, cx2, cy2 in plate_candidates(crop):
                crops.append(crop[cy1:cy2, cx1:cx2])
                where.append((i, (x1 + cx1, y1 + cy1, x1 + cx2, y1 + cy2)))
        out: dict[int, PlateRead] = {}
        for (text, score), (i, box) in zip(self.recognizer.read(crops), where, strict=True):
            plate = normalise_plate(text)
            if plate is None or score < self.min_score:
                continue
            if i not in out or score > out[i].score:
                out[i] = PlateRead(plate, score, box, i if regions is not None else -1)
        return list(out.values())
