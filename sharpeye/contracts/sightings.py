"""Sightings: one per tracked object, written when its track ends (or at shutdown).

What investigators search ("where was plate 皖S·12345 / this face between 08:00 and
12:00?"): camera, class, first/last seen, the best snapshot (a reference to a JPEG in the
evidence store, never the bytes), plate text, face embedding and a short path.
Published on `SIGHTINGS_STREAM` (one field, `sighting`, JSON) and stored in the
`sightings` table by the analytics worker.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sharpeye.contracts.events import Box

SIGHTINGS_STREAM = "sharpeye:sightings"
# The stream is for live readers (a wall following a plate); the searchable record is the
# table. Entries older than this are trimmed as new ones are added: a cap by count held up
# to 1,000,000 of them (about 850 MB of Redis; the 2-hour shift record saw Redis grow
# 24 MB/h, all of it here), a day's worth at the district's 8 million sightings a day.
SIGHTINGS_STREAM_RETENTION_S = 900
SIGHTING_FIELD = "sighting"


class PathPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float = Field(description="Unix time.")
    x: float = Field(ge=0.0, le=1.0, description="Normalised centre of the box's bottom edge.")
    y: float = Field(ge=0.0, le=1.0)


class Sighting(BaseModel):
    """One object on one camera from first to last look (contract version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, description="Contract version.")
    sighting_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)
    track_id: int = Field(ge=0)
    class_name: str = Field(description="Majority label over the track.")
    first_seen: float = Field(description="Unix time of the first look.")
    last_seen: float = Field(description="Unix time of the last look.")
    score: float = Field(ge=0.0, le=1.0, description="Best detector score.")
    box: Box = Field(description="Box on the best snapshot.")
    snapshot_ref: str | None = Field(
        default=None, max_length=512, description="JPEG in the evidence store (relative path)."
    )
    plate: str | None = Field(default=None, description="Canonical plate text ('皖S12345').")
    plate_score: float | None = Field(default=None, ge=0.0, le=1.0)
    face_embedding: list[float] | None = Field(
        default=None, description="128-d dlib embedding of the best face (Euclidean < 0.5: same)."
    )
    face_match: str | None = Field(default=None, description="Watchlist person id, if matched.")
    path: list[PathPoint] = Field(default_factory=list, max_length=64)
    node_id: str | None = Field(default=None, max_length=64)
    attributes: dict[str, str] = Field(
        default_factory=dict,
        max_length=8,
        description="Searchable looks from the best crop: a vehicle's `color`, a person's "
        "`upper_color` and `lower_color` (black, white, gray, red, orange, yellow, green, "
        "cyan, blue, purple, brown).",
    )

    def to_stream_fields(self) -> dict[str, str]:
        return {SIGHTING_FIELD: self.model_dump_json(exclude_none=True)}

    @classmethod
    def from_stream_fields(cls, fields: dict[Any, Any]) -> Sighting:
        raw = fields.get(SIGHTING_FIELD, fields.get(SIGHTING_FIELD.encode()))
        if raw is None:
            raise ValueError(f"stream entry has no {SIGHTING_FIELD!r} field")
        return cls.model_validate_json(raw)
