"""Synthetic flames (procedural, flickering, growing) composited onto real footage."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from numpy.typing import NDArray


def flame_layer(
    size: tuple[int, int], centre: tuple[float, float], height: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """An additive BGR layer (0..255 float) of one flame: tongues of random height and sway."""
    w, h = size
    layer = np.zeros((h, w, 3), np.float32)
    cx, base = centre[0] * w, centre[1] * h
    fh = height * h
    for _ in range(7):
        dx = rng.normal(0, fh * 0.12)
        th = fh * rng.uniform(0.45, 1.0)
        tw = fh * rng.uniform(0.12, 0.22)
        for scale, colour in ((1.0, (0, 60, 230)), (0.7, (10, 150, 255)), (0.4, (120, 230, 255))):
            axes = (max(1, int(tw * scale)), max(1, int(th * scale / 2)))
            c = (int(cx + dx), int(base - axes[1]))
            cv2.ellipse(layer, c, axes, rng.uniform(-12, 12), 0, 360, colour, -1)
    return np.asarray(cv2.GaussianBlur(layer, (0, 0), max(1.0, fh * 0.03)), np.float32)


def with_flames(
    frames: Iterator[NDArray[np.uint8]],
    centre: tuple[float, float] = (0.5, 0.8),
    start_height: float = 0.08,
    growth: float = 0.004,
    seed: int = 7,
) -> Iterator[NDArray[np.uint8]]:
    """The frames with a fire that starts small at `centre` and grows each frame."""
    rng = np.random.default_rng(seed)
    height = start_height
    for frame in frames:
        h, w = frame.shape[:2]
        layer = flame_layer((w, h), centre, height, rng)
        out = np.clip(frame.astype(np.float32) * (1 - np.clip(layer / 255, 0, 0.9)) + layer, 0, 255)
        yield out.astype(np.uint8)
        height = min(0.6, height + growth)
