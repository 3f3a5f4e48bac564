"""Plates: normalisation table, rendered plates read exactly, watchlist hit on a junction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from analytics.config import AnalyticsConfig, PlateSettings
from analytics.pipeline import FrameIn, Pipeline
from analytics.plates.ocr import TextRecognizer
from analytics.plates.reader import PlateReader
from analytics.plates.render import render_plate
from analytics.plates.text import display, normalise_plate, plate_kind
from analytics.plates.textdet import TextDetector
from sharpeye.models.manifest import resolve
from tests.analytics.conftest import Frame
from tests.analytics.drawn_vehicles import Vehicle, draw_vehicle, junction
from tests.analytics.scenes import ScriptedDetector, camera


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("皖S·12345", "皖S12345"),
        ("京A 12345", "京A12345"),
        ("粤B.6K789", "粤B6K789"),
        ("皖AD12345", "皖AD12345"),  # new energy, small car
        ("沪A12345D", "沪A12345D"),  # new energy, large vehicle
        ("苏E·FO512", "苏EF0512"),  # O is never issued: read as 0
        ("|皖S12345", "皖S12345"),  # stray mark before the province
        ("渝B1234学", "渝B1234学"),
        ("皖I12345", None),  # I is never an authority letter
        ("ABC12345", None),
        ("皖S123", None),
    ],
)
def test_normalise(raw: str, expected: str | None) -> None:
    assert normalise_plate(raw) == expected


def test_kinds_and_display() -> None:
    assert plate_kind("皖AD12345") == "new_energy"
    assert plate_kind("皖S12345") == "standard"
    assert display("皖S12345") == "皖S·12345"


@pytest.fixture(scope="module")
def recognizer(models_data_dir: Path) -> TextRecognizer:
    return TextRecognizer(resolve(models_data_dir, "ppocr-rec")[1])


# Blue, green (new energy), white police (red 警) and black Hong Kong plates.
@pytest.mark.parametrize(
    "plate",
    ["京A12345", "粤B6K789", "皖S12345", "皖AD12345", "沪A12345D", "京A1234警", "粤Z1234港"],
)
def test_rendered_plates_read_exactly(recognizer: TextRecognizer, plate: str) -> None:
    ((text, score),) = recognizer.read([render_plate(plate)])
    assert normalise_plate(text) == plate
    assert score > 0.8


@pytest.fixture(scope="module")
def text_detector(models_data_dir: Path) -> TextDetector:
    return TextDetector(resolve(models_data_dir, "ppocr-det")[1])


@pytest.mark.parametrize(
    ("plate", "body"),
    [
        ("京A1234警", (205, 200, 200)),  # white police plate on a white police car
        ("京A1234警", (190, 60, 20)),  # ... on a car of plate blue (BGR): colour finds the body
        ("粤Z1234港", (40, 40, 40)),  # black Hong Kong cross-border plate on a dark car
    ],
)
def test_plates_without_a_coloured_background_are_found_by_text_detection(
    clip_frames: Callable[[str, list[int]], list[Frame]],
    recognizer: TextRecognizer,
    text_detector: TextDetector,
    plate: str,
    body: tuple[int, int, int],
) -> None:
    # A drawn vehicle (synthetic) carrying the rendered plate, on a real vtest frame.
    (frame,) = clip_frames("vtest-720p", [40])
    draw_vehicle(frame, Vehicle(plate, body, (0.5, 0.5), (0.0, 0.0)), (0.5, 0.5))
    vehicle = [(495.0, 250.0, 785.0, 470.0)]  # the drawn body's box, as a detector gives it
    assert PlateReader(recognizer).read(frame, vehicle) == [], "colour alone finds no plate"
    (read,) = PlateReader(recognizer, detector=text_detector).read(frame, vehicle)
    assert (read.text, read.region) == (plate, 0)
    x1, y1, x2, y2 = read.box  # on the plate, in frame coordinates
    assert 530 <= x1 < x2 <= 750 and 395 <= y1 < y2 <= 445


def test_watchlisted_plate_on_a_vehicle_raises_one_hit(
    clip_frames: Callable[[str, list[int]], list[Frame]], models_data_dir: Path
) -> None:
    # Two drawn vehicles (synthetic) drive across vtest's square; the detector is scripted
    # with their boxes so this tests locate → OCR → normalise → track → watchlist.
    cars = [
        Vehicle("皖S12345", (160, 160, 170), (0.1, 0.55), (0.05, 0.0)),
        Vehicle("粤B6K789", (60, 60, 140), (0.9, 0.3), (-0.05, 0.0)),
    ]
    h, w = 720, 1280

    def boxes(i: int) -> list[tuple[str, list[float], float]]:
        out = []
        for v in cars:
            cx, cy = (v.start[0] + v.velocity[0] * i) * w, (v.start[1] + v.velocity[1] * i) * h
            bw = v.width * w
            bh = bw * 0.75
            out.append(("car", [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 0.9))
        return out

    frames = list(junction(iter(clip_frames("vtest-720p", list(range(0, 160, 10)))), cars))
    config = AnalyticsConfig(evidence=False, plates=PlateSettings(watchlist=["皖S12345"]))
    pipe = Pipeline(
        [camera("junction", profile="vehicles")],
        config,
        models_data_dir,
        detector=ScriptedDetector(boxes),
    )
    events, sightings = [], []
    for i, f in enumerate(frames):
        (r,) = pipe.process([FrameIn("junction", f, 1_800_000_000 + i * 0.5)])
        events += r.events
        sightings += r.sightings
    sightings += pipe.flush()
    hits = [e for e in events if e.event_type == "watchlist_plate"]
    assert [(e.label, e.severity) for e in hits] == [("皖S12345", "high")]
    assert {s.plate for s in sightings} == {"皖S12345", "粤B6K789"}
