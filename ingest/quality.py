"""Video-quality diagnosis on occasional frames: black, over-exposed, blurred, frozen.

What a daily inspection of thousands of cameras looks for: a camera can stream perfectly
(fps and bitrate fine) and still show nothing useful — covered, defocused, blinded, or an
encoder repeating one picture. Checks run on a small grey copy, about once a minute per
camera, so they cost nothing next to demux.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

SIDE = 256  # diagnosis works on a ~256 px wide grey image
BLACK_LUMA = 16.0  # mean luma below: black / covered / dead sensor
BRIGHT_LUMA = 235.0  # mean luma above: blinded / over-exposed
BLUR_SHARPNESS = 15.0  # variance of the Laplacian below: defocused or smeared
LOW_CONTRAST = 6.0  # luma standard deviation below: fog, a flat cover, a test card
FROZEN_DIFF = 0.5  # mean absolute difference between samples below: same picture
FROZEN_SAMPLES = 3  # that many identical samples in a row → frozen


@dataclass(frozen=True)
class Quality:
    brightness: float
    contrast: float
    sharpness: float
    issues: tuple[str, ...]


def grey_small(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    h, w = image.shape[:2]
    scale = SIDE / max(w, 1)
    small = cv2.resize(image, (SIDE, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(small, dtype=np.uint8)


def assess(grey: npt.NDArray[np.uint8]) -> Quality:
    brightness = float(grey.mean())
    contrast = float(grey.std())
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    issues: list[str] = []
    if brightness < BLACK_LUMA:
        issues.append("black")
    elif brightness > BRIGHT_LUMA:
        issues.append("overexposed")
    elif contrast < LOW_CONTRAST:
        issues.append("low_contrast")
    elif sharpness < BLUR_SHARPNESS:
        issues.append("blurred")
    return Quality(round(brightness, 1), round(contrast, 1), round(sharpness, 1), tuple(issues))


@dataclass
class Diagnosis:
    """A camera's running diagnosis; `observe` takes each diagnostic frame."""

    last: Quality | None = None
    _previous: npt.NDArray[np.uint8] | None = None
    _same: int = 0
    issues: tuple[str, ...] = field(default=())

    def observe(self, image: npt.NDArray[np.uint8]) -> Quality:
        grey = grey_small(image)
        q = assess(grey)
        if self._previous is not None and self._previous.shape == grey.shape:
            diff = float(cv2.absdiff(grey, self._previous).mean())
            self._same = self._same + 1 if diff < FROZEN_DIFF else 0
        self._previous = grey
        frozen = self._same >= FROZEN_SAMPLES - 1
        self.last = q
        self.issues = (*q.issues, "frozen") if frozen else q.issues
        return q
