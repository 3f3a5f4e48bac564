"""Detections: what the detector (and tracker) saw in one analysed frame.

Boxes are normalised like the events contract's `Box`, so consumers need not know the
stream's resolution. Printed by `sharpeye analyze` as JSON lines; not stored (sightings are).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sharpeye.contracts.events import Box


class Detection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    class_name: str = Field(description="Label (COCO name for the default detector).")
    score: float = Field(ge=0.0, le=1.0)
    box: Box
    track_id: int | None = Field(default=None, ge=0, description="Tracker id on this camera.")
    plate: str | None = Field(default=None, description="Canonical plate text, if read.")
    plate_score: float | None = Field(default=None, ge=0.0, le=1.0)
    face: str | None = Field(default=None, description="Watchlist person id, if matched.")


class FrameDetections(BaseModel):
    """All detections of one analysed frame of one camera (contract version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, description="Contract version.")
    camera_id: str = Field(min_length=1, max_length=64)
    at: float = Field(description="Unix time (live) or seconds into the file (`analyze`).")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    detections: list[Detection] = Field(default_factory=list)
