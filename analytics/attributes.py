"""What an investigator asks by ("a white car", "red top, black trousers"): the main colour
of a vehicle and the upper and lower clothing colours of a person, from the track's best crop.

A colour name per pixel from its hue, saturation and brightness (OpenCV's HSV), counted over
the part of the box that shows the thing (a vehicle's middle, without the road around it; a
person's torso and legs, without head and feet); the most frequent name wins when it covers
enough of the part, else nothing is said. Coarse on purpose: eleven names a witness uses, not
a shade, so the same car reads the same under the day's changing light.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

COLORS = (
    "black", "white", "gray", "red", "orange", "yellow", "green", "cyan", "blue", "purple",
    "brown",
)  # fmt: skip
VEHICLES = frozenset({"car", "bus", "truck", "motorcycle", "bicycle", "van", "e-bike"})
MIN_SHARE = 0.3  # the winning colour covers at least this much of the part
MIN_PIXELS = 64


def _names(hsv: NDArray[np.uint8]) -> NDArray[np.int8]:
    h = hsv[..., 0].astype(np.int16)
    s = hsv[..., 1].astype(np.int16)
    v = hsv[..., 2].astype(np.int16)
    out = np.full(h.shape, -1, np.int8)

    def put(mask: NDArray[np.bool_], name: str) -> None:
        out[(out == -1) & mask] = COLORS.index(name)

    put(v < 50, "black")
    put((s < 40) & (v > 185), "white")
    put(s < 40, "gray")
    put(((h >= 8) & (h < 33)) & (v < 140), "brown")
    put((h < 8) | (h >= 165), "red")
    put((h >= 8) & (h < 20), "orange")
    put((h >= 20) & (h < 33), "yellow")
    put((h >= 33) & (h < 80), "green")
    put((h >= 80) & (h < 97), "cyan")
    put((h >= 97) & (h < 130), "blue")
    put((h >= 130) & (h < 165), "purple")
    return out


def dominant_color(bgr: NDArray[np.uint8]) -> str | None:
    """The colour name covering most of `bgr` (at least MIN_SHARE of it), or None."""
    if bgr.ndim != 3 or bgr.shape[0] * bgr.shape[1] < MIN_PIXELS:
        return None
    hsv: NDArray[np.uint8] = np.asarray(
        cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2HSV), np.uint8
    )
    names = _names(hsv)
    counts = np.bincount(names.ravel().astype(np.int64) + 1, minlength=len(COLORS) + 1)[1:]
    best = int(counts.argmax())
    return COLORS[best] if counts[best] >= MIN_SHARE * names.size else None


def _rows(crop: NDArray[np.uint8], top: float, bottom: float, side: float) -> NDArray[np.uint8]:
    height, width = crop.shape[:2]
    return crop[
        int(height * top) : int(height * bottom), int(width * side) : int(width * (1 - side))
    ]


def attributes_of(class_name: str, crop: NDArray[np.uint8] | None) -> dict[str, str]:
    """The searchable attributes of one object from its best crop (empty when none apply)."""
    if crop is None or crop.size == 0:
        return {}
    out: dict[str, str | None] = {}
    if class_name in VEHICLES:
        out["color"] = dominant_color(_rows(crop, 0.2, 0.8, 0.15))
    elif class_name == "person":
        out["upper_color"] = dominant_color(_rows(crop, 0.18, 0.5, 0.25))
        out["lower_color"] = dominant_color(_rows(crop, 0.55, 0.88, 0.3))
    return {k: v for k, v in out.items() if v is not None}
