"""Fire and smoke from video, classically: flame colour, flicker and persistence over time;
smoke as spreading desaturation and softening against the background (`SmokeDetector`).

No registry package ships fire/smoke weights, so this is the baseline (a trained model can
take the same slot later). One frame cannot tell a flame from an orange jacket or a sunset;
time can: flame pixels are bright red-orange-yellow AND their extent changes from look to
look (flicker), while a jacket moves as a whole and a sunset does not change. The camera's
region must show both for `hold` of the last `window` looks before an event fires.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

WORK_WIDTH = 192


@dataclass(frozen=True)
class FireReading:
    area: float  # fraction of the frame with flame colour
    flicker: float  # fraction of flame pixels that changed state since the last look
    burning: bool  # area and flicker both above threshold on this look
    alarm: bool  # held for `hold` of the last `window` looks
    box: tuple[float, float, float, float] | None  # normalised xyxy of the flame region


def flame_mask(frame: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Bright, saturated red-to-yellow pixels with R ≥ G > B (fire's colour ordering)."""
    b, g, r = (frame[..., i].astype(np.int16) for i in range(3))
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    return (r > 190) & (r >= g) & (g > b) & (r - b > 70) & (hue <= 35) & (sat > 90) & (val > 190)


class FireDetector:
    def __init__(
        self,
        min_area: float = 0.002,
        min_flicker: float = 0.25,
        window: int = 8,
        hold: int = 5,
    ) -> None:
        self.min_area, self.min_flicker = min_area, min_flicker
        self.window, self.hold = window, hold
        self._prev: NDArray[np.bool_] | None = None
        self._history: deque[bool] = deque(maxlen=window)

    def update(self, frame: NDArray[np.uint8]) -> FireReading:
        scale = WORK_WIDTH / frame.shape[1]
        small = np.asarray(
            cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8
        )
        mask = flame_mask(small)
        area = float(mask.mean())
        flicker = 0.0
        prev, self._prev = self._prev, mask
        if prev is not None and prev.shape == mask.shape:
            union = mask | prev
            if union.any():
                flicker = float((mask ^ prev).sum() / union.sum())
        burning = area >= self.min_area and flicker >= self.min_flicker
        self._history.append(burning)
        box = None
        if mask.any():
            ys, xs = np.nonzero(mask)
            h, w = mask.shape
            box = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
        return FireReading(area, flicker, burning, sum(self._history) >= self.hold, box)


@dataclass(frozen=True)
class SmokeReading:
    area: float  # fraction of the frame that turned smoky against the background
    growing: bool
    alarm: bool


class SmokeDetector:
    """Smoke, classically: a region turns greyer (less saturated), brighter and softer
    (fewer edges) than the slowly learned background, and keeps spreading. Leaves in wind
    and walkers change pixels but neither desaturate, brighten and blur them all at once."""

    def __init__(self, min_area: float = 0.012, window: int = 6, hold: int = 4) -> None:
        self.min_area, self.window, self.hold = min_area, window, hold
        self._bg: NDArray[np.float32] | None = None
        self._areas: deque[float] = deque(maxlen=window)
        self._history: deque[bool] = deque(maxlen=window)

    def update(self, frame: NDArray[np.uint8]) -> SmokeReading:
        scale = WORK_WIDTH / frame.shape[1]
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV).astype(np.float32)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        edges = cv2.blur(
            np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (3, 3), 0), cv2.CV_32F)), (5, 5)
        )
        feat = np.dstack([hsv[..., 1], hsv[..., 2], edges]).astype(np.float32)
        if self._bg is None or self._bg.shape != feat.shape:
            self._bg = feat.copy()
            return SmokeReading(0.0, False, False)
        bg = self._bg
        smoky = (
            (feat[..., 0] < 70)
            & (bg[..., 0] - feat[..., 0] > 15)  # desaturated
            & (feat[..., 1] - bg[..., 1] > 5)  # brighter
            & (bg[..., 2] - feat[..., 2] > 2)  # softer
        )
        cv2.accumulateWeighted(feat, self._bg, 0.02)
        area = float(smoky.mean())
        growing = len(self._areas) >= 3 and area > 1.2 * self._areas[0]
        self._areas.append(area)
        self._history.append(area >= self.min_area and growing)
        return SmokeReading(area, growing, sum(self._history) >= self.hold)
