"""Faces: same person matches, different people do not; a watchlist hit is an event."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.config import AnalyticsConfig
from analytics.faces import FaceAnalyzer, FaceWatchlist
from analytics.pipeline import FrameIn, Pipeline
from sharpeye.models.samples import pull_samples
from tests.analytics.conftest import Frame
from tests.analytics.scenes import camera


def another_shot(img: Frame, scale: float) -> Frame:
    """The same person in a different image: mirrored, rescaled, brighter, re-compressed.
    (No second real photo of one person ships in a registry package.)"""
    out = cv2.convertScaleAbs(
        cv2.resize(cv2.flip(img, 1), None, fx=scale, fy=scale), alpha=0.9, beta=15
    )
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def analyzer(models_data_dir: Path) -> FaceAnalyzer:
    return FaceAnalyzer(models_data_dir, min_size=24)


@pytest.fixture(scope="module")
def photos(models_data_dir: Path, images_dir: Path) -> dict[str, Frame]:
    samples = pull_samples(models_data_dir)
    return {
        "zidane": cv2.imread(str(samples["zidane.jpg"])),
        "messi": cv2.imread(str(images_dir / "messi5.jpg")),
    }


def test_faces_found_in_zidane_and_bus(
    analyzer: FaceAnalyzer, photos: dict[str, Frame], models_data_dir: Path
) -> None:
    assert len(analyzer.detect(photos["zidane"])) >= 2
    bus = cv2.imread(str(pull_samples(models_data_dir)["bus.jpg"]))
    assert len(analyzer.detect(bus)) >= 2


def test_same_person_matches_and_different_people_do_not(
    analyzer: FaceAnalyzer, photos: dict[str, Frame]
) -> None:
    def main_face_embedding(img: Frame) -> np.ndarray:
        faces = sorted(analyzer.usable_faces(img), key=lambda f: -(f.box[2] - f.box[0]))
        return analyzer.embed(img, faces[0])

    z, m = photos["zidane"], photos["messi"]
    same_z = np.linalg.norm(main_face_embedding(z) - main_face_embedding(another_shot(z, 0.8)))
    same_m = np.linalg.norm(main_face_embedding(m) - main_face_embedding(another_shot(m, 1.6)))
    other = np.linalg.norm(main_face_embedding(z) - main_face_embedding(m))
    assert same_z < 0.5 and same_m < 0.5
    assert other > 0.6


def test_watchlist_hit_event(
    analyzer: FaceAnalyzer, photos: dict[str, Frame], models_data_dir: Path
) -> None:
    wl = FaceWatchlist(threshold=0.5)
    wl.add_photos(analyzer, "kp-001", "Key person 1", [another_shot(photos["zidane"], 0.8)])
    wl.add_photos(analyzer, "kp-002", "Key person 2", [photos["messi"]])
    pipe = Pipeline(
        [camera("entrance", profile="faces")],
        AnalyticsConfig(evidence=False, faces={"min_size": 24}),  # type: ignore[arg-type]
        models_data_dir,
        face_watchlist=wl,
    )
    (r,) = pipe.process([FrameIn("entrance", photos["zidane"], 1_800_000_000.0)])
    hits = [e for e in r.events if e.event_type == "watchlist_face"]
    assert [e.attributes["person_id"] for e in hits] == ["kp-001"]


@pytest.mark.parametrize(
    ("transform", "why"),
    [
        (lambda img: cv2.GaussianBlur(img, (0, 0), 6), "blurred"),
        (lambda img: cv2.resize(img, None, fx=0.12, fy=0.12), "too small"),
    ],
)
def test_quality_filter_drops_unusable_faces(
    analyzer: FaceAnalyzer, photos: dict[str, Frame], transform: object, why: str
) -> None:
    assert analyzer.usable_faces(photos["zidane"]), "the sharp, large original is usable"
    degraded = transform(photos["zidane"])  # type: ignore[operator]
    assert analyzer.usable_faces(degraded) == [], why
