"""Plate reading for a frame: candidates on each vehicle crop → OCR → normalised text.

Candidates come from colour first (cheap: blue, yellow, green plates). A vehicle that
yields no plate that way gets a second look with PP-OCR's text detector on its crop, which
finds plates without a coloured background (white police, black HK/Macau plates) and
plates on a car body of plate colour; the format check keeps other text (ads, signs) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.plates.locate import plate_candidates
from analytics.plates.ocr import TextRecognizer
from analytics.plates.text import normalise_plate
from analytics.plates.textdet import TextDetector

Box = tuple[int, int, int, int]  # xyxy
# Text lines considered per vehicle, and the shape of a plate's line of text: 7-8
# characters, wider than tall (a plate's 3.1-3.4 aspect minus its margins, or more).
MAX_TEXT_LINES = 4
MIN_WIDTH = 24
ASPECT = (2.0, 8.0)


@dataclass(frozen=True)
class PlateRead:
    text: str  # canonical ("皖S12345")
    score: float
    box: Box  # in the frame
    region: int  # index of the vehicle box it was found in (-1: whole frame)


class PlateReader:
    def __init__(
        self,
        recognizer: TextRecognizer,
        min_score: float = 0.8,
        detector: TextDetector | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.min_score = min_score
        self.detector = detector

    def read(
        self, frame: NDArray[np.uint8], regions: Sequence[Sequence[float]] | None = None
    ) -> list[PlateRead]:
        """One plate at most per region (vehicle box xyxy); the whole frame when None."""
        boxes: list[Box] = (
            [(0, 0, frame.shape[1], frame.shape[0])]
            if regions is None
            else [(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in regions]
        )
        crops = {i: frame[b[1] : b[3], b[0] : b[2]] for i, b in enumerate(boxes)}
        crops = {i: c for i, c in crops.items() if c.size}
        found = [(i, c) for i, crop in crops.items() for c in plate_candidates(crop)]
        out = self._ocr(frame, boxes, found, regions is not None)
        # Text detection costs ~20 ms a crop: only vehicles colour could not read, and only
        # on vehicle crops (on a whole frame a plate's text is too small for it to see).
        if self.detector is not None and regions is not None:
            found = [
                (i, line)
                for i, crop in crops.items()
                if i not in out
                for line in self._text_lines(crop)
            ]
            out.update(self._ocr(frame, boxes, found, True))
        return list(out.values())

    def _text_lines(self, crop: NDArray[np.uint8]) -> list[Box]:
        assert self.detector is not None
        lines = [b for b, _ in self.detector.detect(crop)[:MAX_TEXT_LINES]]
        return [
            (x1, y1, x2, y2)
            for x1, y1, x2, y2 in lines
            if x2 - x1 >= MIN_WIDTH and ASPECT[0] <= (x2 - x1) / max(y2 - y1, 1) <= ASPECT[1]
        ]

    def _ocr(
        self, frame: NDArray[np.uint8], boxes: list[Box], found: list[tuple[int, Box]], tag: bool
    ) -> dict[int, PlateRead]:
        """The best valid plate per region among candidate boxes (crop coordinates), in one
        OCR batch; `tag`: record the region index (else -1, the whole frame)."""
        at = [
            (boxes[i][0] + x1, boxes[i][1] + y1, boxes[i][0] + x2, boxes[i][1] + y2)
            for i, (x1, y1, x2, y2) in found
        ]
        texts = self.recognizer.read([frame[y1:y2, x1:x2] for x1, y1, x2, y2 in at])
        out: dict[int, PlateRead] = {}
        for (text, score), (i, _), box in zip(texts, found, at, strict=True):
            plate = normalise_plate(text)
            if plate is None or score < self.min_score:
                continue
            if i not in out or score > out[i].score:
                out[i] = PlateRead(plate, score, box, i if tag else -1)
        return out
