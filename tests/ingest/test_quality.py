"""Picture diagnosis on real photos and their damaged versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ingest.quality import Diagnosis, assess, grey_small


@pytest.fixture(scope="module")
def photo(footage: Any) -> np.ndarray:
    image = cv2.imread(str(Path("var/footage/images/messi5.jpg")))
    assert image is not None
    return image


@pytest.mark.parametrize(
    ("damage", "issues"),
    [
        (lambda im: im, ()),
        (lambda im: (im * 0.03).astype(np.uint8), ("black",)),
        (
            lambda im: np.clip(im.astype(np.int32) * 4 + 120, 0, 255).astype(np.uint8),
            ("overexposed",),
        ),
        (lambda im: cv2.GaussianBlur(im, (41, 41), 12), ("blurred",)),
        (lambda im: np.full_like(im, 128) + (im // 64), ("low_contrast",)),
    ],
)
def test_assess_flags_what_an_inspector_would(
    photo: np.ndarray, damage: Any, issues: tuple[str, ...]
) -> None:
    assert assess(grey_small(damage(photo))).issues == issues


def test_frozen_after_identical_samples_and_cleared_by_motion(photo: np.ndarray) -> None:
    d = Diagnosis()
    for _ in range(3):
        d.observe(photo)
    assert d.issues == ("frozen",)
    d.observe(np.roll(photo, 40, axis=1))  # the picture moves again
    assert d.issues == ()
