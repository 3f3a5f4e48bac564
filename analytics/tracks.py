"""What analytics remembers about one track until it ends and becomes a `Sighting`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from analytics.attributes import attributes_of
from sharpeye.contracts.events import Box
from sharpeye.contracts.sightings import PathPoint, Sighting

MAX_PATH = 32


def norm_box(xyxy: NDArray[np.float32] | tuple[float, ...], width: int, height: int) -> Box:
    x1, y1, x2, y2 = (float(v) for v in xyxy)

    def c(v: float) -> float:
        return min(1.0, max(0.0, v))

    return Box(x1=c(x1 / width), y1=c(y1 / height), x2=c(x2 / width), y2=c(y2 / height))


@dataclass
class TrackState:
    track_id: int
    first_seen: float
    last_seen: float
    classes: Counter[str] = field(default_factory=Counter)
    path: list[PathPoint] = field(default_factory=list)
    best_score: float = 0.0
    best_box: Box | None = None
    best_crop: NDArray[np.uint8] | None = None
    plates: dict[str, tuple[int, float]] = field(default_factory=dict)  # text → (reads, best)
    face_quality: float = 0.0
    face_embedding: NDArray[np.float32] | None = None
    face_match: str | None = None
    events: set[str] = field(default_factory=set)  # one-per-track events already raised

    @property
    def class_name(self) -> str:
        return self.classes.most_common(1)[0][0] if self.classes else "object"

    @property
    def plate(self) -> tuple[str, float] | None:
        if not self.plates:
            return None
        # The text read most often wins (OCR slips differ from look to look; the plate does not).
        text = max(self.plates, key=lambda t: self.plates[t])
        return text, self.plates[text][1]

    def add_plate(self, text: str, score: float) -> None:
        reads, best = self.plates.get(text, (0, 0.0))
        self.plates[text] = (reads + 1, max(best, score))

    def observe(
        self,
        at: float,
        cls: str,
        score: float,
        box: Box,
        ground: tuple[float, float],
        crop: NDArray[np.uint8],
    ) -> None:
        self.last_seen = at
        self.classes[cls] += 1
        point = PathPoint(t=at, x=min(1.0, max(0.0, ground[0])), y=min(1.0, max(0.0, ground[1])))
        self.path.append(point)
        if len(self.path) > MAX_PATH:
            # Keep the ends and thin the middle: a summary of where it went, bounded.
            self.path = self.path[:1] + self.path[2::2] + self.path[-1:]
        if score > self.best_score:
            self.best_score, self.best_box, self.best_crop = score, box, crop.copy()

    def to_sighting(
        self, camera_id: str, snapshot_ref: str | None, node_id: str | None
    ) -> Sighting:
        plate = self.plate
        return Sighting(
            camera_id=camera_id,
            track_id=self.track_id,
            class_name=self.class_name,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            score=min(1.0, self.best_score),
            box=self.best_box or Box(x1=0, y1=0, x2=1, y2=1),
            snapshot_ref=snapshot_ref,
            plate=plate[0] if plate else None,
            plate_score=plate[1] if plate else None,
            face_embedding=(
                [float(v) for v in self.face_embedding] if self.face_embedding is not None else None
            ),
            face_match=self.face_match,
            path=self.path,
            node_id=node_id,
            attributes=attributes_of(self.class_name, self.best_crop),
        )
