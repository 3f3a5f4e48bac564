"""Fire from video, classically: flame colour, flicker and persistence over time.

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
