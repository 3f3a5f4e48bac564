"""The motion gate: static scenes do not reach the detector.

Each frame is shrunk to a small grey image and compared with a slowly updated background;
the detector runs when enough of it changed, or at least every `heartbeat_s` (so something
that arrived while frames were skipped is found and a stale background cannot hide it for
long). A skipped frame means nothing moved: the camera's tracks are held where they were
(`ByteTracker.hold`), so a person standing still stays tracked for loitering.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray


@dataclass
class GateStats:
    frames: int = 0
    passed: int = 0

    @property
    def skipped(self) -> int:
        return self.frames - self.passed


class MotionGate:
    def __init__(
        self,
        width: int = 160,
        pixel_threshold: int = 18,
        min_fraction: float = 0.003,
        heartbeat_s: float = 10.0,
        learn_rate: float = 0.1,
    ) -> None:
        self.width, self.pixel_threshold = width, pixel_threshold
        self.min_fraction, self.heartbeat_s, self.learn_rate = min_fraction, heartbeat_s, learn_rate
        self._background: NDArray[np.float32] | None = None
        self._last_pass = -float("inf")
        self.stats = GateStats()
        self.last_fraction = 0.0

    def _small(self, frame: NDArray[np.uint8]) -> NDArray[np.float32]:
        scale = self.width / frame.shape[1]
        gray = cv2.cvtColor(
            cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
            cv2.COLOR_BGR2GRAY,
        )
        return cv2.GaussianBlur(gray, (5, 5), 0).astype(np.float32)

    def check(self, frame: NDArray[np.uint8], at: float) -> bool:
        """True if this frame should go to the detector."""
        small = self._small(frame)
        self.stats.frames += 1
        if self._background is None or self._background.shape != small.shape:
            self._background = small
            fraction = 1.0
        else:
            diff = np.abs(small - self._background)
            fraction = float((diff > self.pixel_threshold).mean())
            cv2.accumulateWeighted(small, self._background, self.learn_rate)
        self.last_fraction = fraction
        passed = fraction >= self.min_fraction or at - self._last_pass >= self.heartbeat_s
        if passed:
            self._last_pass = at
            self.stats.passed += 1
        return passed
