"""Picture diagnosis on real photos and their damaged versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ingest.quality import FROZEN_DIFF, Diagnosis, assess, grey_small, picture_change


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
    assert not d.frozen


def test_a_small_moving_object_is_a_change_and_coding_noise_is_not(photo: np.ndarray) -> None:
    grey = grey_small(photo)
    walker = photo.copy()
    walker[300:340, 200:220] = 255 - walker[300:340, 200:220]  # one small figure moves
    moved = grey_small(walker)
    assert float(np.abs(moved.astype(int) - grey.astype(int)).mean()) < 0.5  # whole-image mean
    assert picture_change(grey, moved) >= FROZEN_DIFF  # but its block changed
    ok, jpeg = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    recoded = grey_small(decoded.astype(np.uint8))
    assert picture_change(grey, recoded) < FROZEN_DIFF


def test_one_identical_sample_is_only_suspect_and_close_samples_do_not_count(
    photo: np.ndarray,
) -> None:
    d = Diagnosis()
    d.observe(photo, at=100.0)
    d.observe(photo, at=100.2)  # too soon to compare: ignored
    d.observe(photo, at=100.5)
    assert d.issues == () and not d.suspect
    d.observe(photo, at=160.0)  # a period later, same picture (looping footage?)
    assert d.suspect and d.issues == ()
    d.observe(np.roll(photo, 40, axis=1), at=163.0)  # the recheck sees it move
    assert not d.suspect and d.issues == ()


def test_frozen_says_for_how_long(photo: np.ndarray) -> None:
    d = Diagnosis()
    for at in (10.0, 70.0, 73.0):
        d.observe(photo, at=at)
    assert d.issues == ("frozen",)
    assert d.describe(now=82.4) == "picture frozen for 72 s"
    black = Diagnosis()
    black.observe((photo * 0.03).astype(np.uint8), at=1.0)
    assert black.describe(now=2.0) == "picture black"
