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


def read(path: Path) -> Frame:
    img = cv2.imread(str(path))
    assert img is not None, path
    return np.asarray(img, np.uint8)


@pytest.fixture(scope="module")
def analyzer(models_data_dir: Path) -> FaceAnalyzer:
    return FaceAnalyzer(models_data_dir, min_size=24)


@pytest.fixture(scope="module")
def photos(models_data_dir: Path, images_dir: Path) -> dict[str, Frame]:
    # Real, different photos: three of Barack Obama (portrait, at a lectern, full length)
    # and one of Joe Biden from face_recognition's sdist, zidane.jpg, and opencv's messi5.jpg.
    samples = pull_samples(models_data_dir)
    names = ("obama", "obama2", "obama3", "biden", "zidane")
    out = {n: read(samples[f"{n}.jpg"]) for n in names}
    out["messi"] = read(images_dir / "messi5.jpg")
    return out


def main_face_embedding(analyzer: FaceAnalyzer, img: Frame) -> np.ndarray:
    faces = sorted(analyzer.usable_faces(img), key=lambda f: -(f.box[2] - f.box[0]))
    assert faces, "a usable face in the photo"
    return analyzer.embed(img, faces[0])


def test_faces_found_in_zidane_and_bus(
    analyzer: FaceAnalyzer, photos: dict[str, Frame], models_data_dir: Path
) -> None:
    assert len(analyzer.detect(photos["zidane"])) >= 2
    bus = read(pull_samples(models_data_dir)["bus.jpg"])
    assert len(analyzer.detect(bus)) >= 2


def test_same_person_matches_and_different_people_do_not(
    analyzer: FaceAnalyzer, photos: dict[str, Frame]
) -> None:
    emb = {n: main_face_embedding(analyzer, img) for n, img in photos.items()}

    def dist(a: str, b: str) -> float:
        return float(np.linalg.norm(emb[a] - emb[b]))

    # One man in three different photos (light, pose, age, camera): the same person.
    for a, b in [("obama", "obama2"), ("obama", "obama3"), ("obama2", "obama3")]:
        assert dist(a, b) < 0.5, (a, b, dist(a, b))
    # Four different people: far apart, with a margin over the 0.5 threshold.
    for a, b in [
        ("obama", "biden"),
        ("obama2", "biden"),
        ("obama3", "biden"),
        ("obama", "zidane"),
        ("biden", "messi"),
        ("zidane", "messi"),
    ]:
        assert dist(a, b) > 0.6, (a, b, dist(a, b))


def test_watchlist_hit_event(
    analyzer: FaceAnalyzer, photos: dict[str, Frame], models_data_dir: Path
) -> None:
    # Enrolled from one photo each; cameras see other photos of them, and strangers.
    wl = FaceWatchlist(threshold=0.5)
    wl.add_photos(analyzer, "kp-001", "Key person 1", [photos["obama"]])
    wl.add_photos(analyzer, "kp-002", "Key person 2", [photos["biden"]])
    shown = ("obama3", "zidane", "obama2", "messi")  # one camera each
    pipe = Pipeline(
        [camera(name, profile="faces") for name in shown],
        AnalyticsConfig(evidence=False, faces={"min_size": 24}),  # type: ignore[arg-type]
        models_data_dir,
        face_watchlist=wl,
    )
    results = pipe.process([FrameIn(n, photos[n], 1_800_000_000.0) for n in shown])
    hits = [e for r in results for e in r.events if e.event_type == "watchlist_face"]
    seen = {n: [e.attributes["person_id"] for e in hits if e.camera_id == n] for n in shown}
    assert seen == {"obama3": ["kp-001"], "zidane": [], "obama2": ["kp-001"], "messi": []}


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
