"""Synthetic smoke (procedural puffs rising and spreading) composited onto real footage."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from numpy.typing import NDArray


def with_smoke(
    frames: Iterator[NDArray[np.uint8]], source: tuple[float, float] = (0.5, 0.9), seed: int = 1
) -> Iterator[NDArray[np.uint8]]:
    """The frames with grey smoke rising from `source`, one new puff every other frame."""
    rng = np.random.default_rng(seed)
    for t, frame in enumerate(frames):
        h, w = frame.shape[:2]
        alpha = np.zeros((h, w), np.float32)
        for k in range(12):
            age = t - 2 * k
            if age < 0:
                continue
            cx = source[0] * w + rng.normal(0, 3) + age * 0.8 * w / 640
            cy = source[1] * h - age * 4 * h / 360
            cv2.circle(alpha, (int(cx), int(cy)), int((6 + age * 1.6) * w / 640), 0.5, -1)
        soft = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 8 * w / 640), np.float32)[..., None]
        yield (frame * (1 - soft) + 200.0 * soft).astype(np.uint8)
