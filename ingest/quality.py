"""Video-quality diagnosis on occasional frames: black, over-exposed, blurred, frozen.

What a daily inspection of thousands of cameras looks for: a camera can stream perfectly
(fps and bitrate fine) and still show nothing useful — covered, defocused, blinded, or an
encoder repeating one picture. Checks run on a small grey copy, about once a minute per
camera, so they cost nothing next to demux.

Frozen needs care: two samples a minute apart can be the same picture on a camera that
moves (looping footage, a patrol tour, the same sampled frame handed over twice), so a
sample that matches the previous one only makes the camera *suspect*; the engine then
rechecks a few seconds later, and only pictures that stay the same over those short gaps
count as frozen.
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
# Largest mean absolute difference over a grid of blocks below: same picture. A mean over the
# whole image is too coarse (one walker in a still street moves it by less than 0.5), while a
# re-encoded still picture differs by about 0.4 in its busiest block (coding noise).
FROZEN_DIFF = 2.0
GRID = 16  # blocks across the image for FROZEN_DIFF
FROZEN_SAMPLES = 3  # that many identical samples in a row → frozen
# Samples closer than this say nothing about freezing (a static scene barely moves in 0.1 s).
FROZEN_MIN_GAP_S = 1.0
ISSUE_TEXT = {
    "black": "picture black",
    "overexposed": "picture over-exposed",
    "low_contrast": "picture without contrast",
    "blurred": "picture blurred",
}


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


def picture_change(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """The largest mean absolute difference over a GRID-wide grid of blocks."""
    diff = cv2.absdiff(a, b).astype(np.float32)
    h, w = diff.shape[:2]
    rows = max(1, round(GRID * h / max(w, 1)))
    blocks = cv2.resize(diff, (GRID, rows), interpolation=cv2.INTER_AREA)
    return float(blocks.max())


@dataclass
class Diagnosis:
    """A camera's running diagnosis; `observe` takes each diagnostic frame."""

    last: Quality | None = None
    _previous: npt.NDArray[np.uint8] | None = None
    _previous_at: float = 0.0
    _same: int = 0
    # When the picture that stayed the same was first seen (monotonic), while it does.
    same_since: float | None = None
    issues: tuple[str, ...] = field(default=())

    @property
    def frozen(self) -> bool:
        return self._same >= FROZEN_SAMPLES - 1

    @property
    def suspect(self) -> bool:
        """The last sample matched the one before, not yet often enough to call it frozen."""
        return 0 < self._same < FROZEN_SAMPLES - 1

    def observe(self, image: npt.NDArray[np.uint8], at: float = 0.0) -> Quality:
        """Diagnose a frame seen at `at` (monotonic seconds; only gaps between samples
        matter, so tests may leave it out to mean "far enough apart")."""
        grey = grey_small(image)
        q = assess(grey)
        previous = self._previous
        if previous is None or previous.shape != grey.shape:
            self._previous, self._previous_at, self._same, self.same_since = grey, at, 0, None
        elif at and self._previous_at and at - self._previous_at < FROZEN_MIN_GAP_S:
            pass  # too soon after the last sample to compare: keep that one as the reference
        else:
            if picture_change(grey, previous) < FROZEN_DIFF:
                if self._same == 0:
                    self.same_since = self._previous_at
                self._same += 1
            else:
                self._same, self.same_since = 0, None
            self._previous, self._previous_at = grey, at
        self.last = q
        self.issues = (*q.issues, "frozen") if self.frozen else q.issues
        return q

    def describe(self, now: float) -> str | None:
        """The picture's problems in words, for a health report's reason."""
        parts = [ISSUE_TEXT.get(i, f"picture {i}") for i in self.issues if i != "frozen"]
        if self.frozen:
            since = self.same_since
            if since:
                parts.insert(0, f"picture frozen for {max(0.0, now - since):.0f} s")
            else:
                parts.insert(0, "picture frozen")
        return "; ".join(parts) or None
