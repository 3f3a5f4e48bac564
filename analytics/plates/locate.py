"""Plate candidates by colour: Chinese plates are blue, yellow or green (new energy) panels.

Cheap and good enough on vehicle crops, where the plate is the largest saturated
rectangle of plate aspect; each candidate is confirmed by OCR + format check downstream,
which is what keeps false candidates (blue cars, green signs) out of sightings.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

# HSV ranges (OpenCV hue 0..180) of plate backgrounds.
_RANGES = {
    "blue": ((100, 80, 50), (130, 255, 255)),
    "yellow": ((15, 80, 80), (35, 255, 255)),
    "green": ((35, 40, 80), (85, 255, 255)),
}
ASPECT = (2.0, 6.0)


def plate_candidates(
    image: NDArray[np.uint8], min_width: int = 40, max_candidates: int = 3
) -> list[tuple[int, int, int, int]]:
    """Up to `max_candidates` xyxy boxes of plate-coloured, plate-shaped regions, largest first."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    h, w = image.shape[:2]
    found: list[tuple[int, tuple[int, int, int, int]]] = []
    for lo, hi in _RANGES.values():
        mask = cv2.inRange(hsv, np.array(lo, np.uint8), np.array(hi, np.uint8))
        k = max(3, h // 60)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k * 3), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            if bw < min_width or not ASPECT[0] <= bw / max(bh, 1) <= ASPECT[1]:
                continue
            # A plate fills most of its box; a diagonal stripe or a blob does not.
            if cv2.contourArea(c) < 0.6 * bw * bh:
                continue
            px, py = int(bw * 0.06), int(bh * 0.12)
            box = (max(0, x - px), max(0, y - py), min(w, x + bw + px), min(h, y + bh + py))
            found.append((bw * bh, box))
    found.sort(key=lambda t: -t[0])
    return [b for _, b in found[:max_candidates]]
