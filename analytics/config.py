"""Analytics settings (one YAML file per node, optional) and what each camera runs.

The registry says per camera *which* profile and zones/lines; this file says *how*: the
detector plug-in, batching, thresholds, watchlists. What runs on a camera is the union of
its profile's features and those its tags ask for (`fire-watch` adds fire, `crowd` adds
crowd counting...), so the demo registry's tags light up the right analytics.

`<data_dir>/analytics.yaml`, read by the worker (every key optional):

    analytics:
      detector: {type: yolo-onnx, model: my-yolo, provider: cuda, score: 0.3}
      batch_size: 16
      batch_wait_ms: 30
      motion: {heartbeat_s: 10}
      rules: {crowd_min_people: 8, crowd_hold_s: 5, loiter_s: 60, zones_only: true}
      faces: {watchlist_dir: /srv/keypersons, threshold: 0.5}
      plates: {watchlist: [皖S12345], whole_frame: false}
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from analytics.detectors.config import DetectorConfig, NanodetOnnxConfig
from sharpeye.registry import Camera

PEOPLE = ("person",)
VEHICLES = ("car", "bus", "truck", "motorcycle", "bicycle")
BOATS = ("boat",)

FEATURES = ("objects", "intrusion", "loitering", "lines", "crowd", "fire", "faces", "plates")
PROFILES: dict[str, frozenset[str]] = {
    "default": frozenset({"objects", "lines"}),
    "vehicles": frozenset({"objects", "lines", "plates"}),
    "intrusion": frozenset({"objects", "intrusion", "loitering", "lines"}),
    "crowd": frozenset({"objects", "crowd"}),
    "faces": frozenset({"objects", "faces"}),
    "fire": frozenset({"fire"}),
    "port": frozenset({"objects", "lines", "intrusion"}),
    "all": frozenset(FEATURES),
}
TAG_FEATURES: dict[str, frozenset[str]] = {
    "crowd": frozenset({"objects", "crowd"}),
    "intrusion": frozenset({"objects", "intrusion", "loitering"}),
    "fire-watch": frozenset({"fire"}),
    "boats": frozenset({"objects", "lines"}),
    "faces": frozenset({"objects", "faces"}),
    "plates": frozenset({"objects", "plates"}),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MotionSettings(_Section):
    enabled: bool = True
    width: int = Field(default=160, ge=32, description="Width of the compared grey image.")
    pixel_threshold: int = Field(default=18, ge=1, le=255)
    min_fraction: float = Field(default=0.003, ge=0.0, le=1.0)
    heartbeat_s: float = Field(default=10.0, gt=0, description="Detect at least this often.")


class RuleSettings(_Section):
    loiter_s: float = Field(default=30.0, gt=0, description="Seconds in a zone to loiter.")
    crowd_min_people: int = Field(default=5, ge=1, description="People in a zone for a crowd.")
    crowd_hold_s: float = Field(default=3.0, ge=0, description="How long the count must hold.")
    cooldown_s: float = Field(default=60.0, ge=0, description="Repeat crowd/fire events after.")
    intrusion_classes: list[str] = Field(default_factory=lambda: [*PEOPLE, *VEHICLES, *BOATS])
    min_area: float = Field(default=0.0003, ge=0, description="Drop boxes smaller (of frame).")
    zones_only: bool = Field(
        default=False,
        description="On cameras with zones, ignore objects outside every zone (reflections, "
        "a road beyond the fence): fewer false alarms and fewer tracks.",
    )


class FaceSettings(_Section):
    watchlist_dir: Path | None = Field(
        default=None, description="<dir>/<person-id>/*.jpg reference photos (key persons)."
    )
    threshold: float = Field(default=0.5, gt=0, description="Embedding distance for a match.")
    min_size: int = Field(default=32, ge=8, description="Smallest face side (pixels).")


class PlateSettings(_Section):
    watchlist: list[str] = Field(default_factory=list, description="Plates to alarm on.")
    min_score: float = Field(default=0.8, ge=0, le=1)
    whole_frame: bool = Field(
        default=False, description="Also search the whole frame (gate/ANPR cameras)."
    )
    text_detect: bool = Field(
        default=True,
        description="Vehicles colour finds no plate on: look for a line of text with PP-OCR "
        "det (white police, black HK/Macau plates); ~20 ms per such vehicle crop.",
    )


class FireSettings(_Section):
    min_area: float = 0.002
    min_flicker: float = 0.25
    window: int = 8
    hold: int = 5


class AnalyticsConfig(_Section):
    detector: DetectorConfig = Field(default_factory=NanodetOnnxConfig)
    batch_size: int = Field(default=8, ge=1, le=256)
    batch_wait_ms: float = Field(default=50.0, ge=0)
    classes: list[str] = Field(default_factory=lambda: [*PEOPLE, *VEHICLES, *BOATS])
    motion: MotionSettings = Field(default_factory=MotionSettings)
    rules: RuleSettings = Field(default_factory=RuleSettings)
    faces: FaceSettings = Field(default_factory=FaceSettings)
    plates: PlateSettings = Field(default_factory=PlateSettings)
    fire: FireSettings = Field(default_factory=FireSettings)
    evidence: bool = Field(default=True, description="Write snapshot JPEGs for events/sightings.")


def load_analytics_config(path: Path | None) -> AnalyticsConfig:
    """From YAML (`analytics:` section or the whole file); defaults when path is None/absent."""
    if path is None or not path.exists():
        return AnalyticsConfig()
    data = yaml.safe_load(path.read_text()) or {}
    return AnalyticsConfig.model_validate(data.get("analytics", data))


def features_for(camera: Camera) -> frozenset[str]:
    name = camera.analytics.profile
    if name not in PROFILES:
        raise ValueError(
            f"camera {camera.id}: unknown analytics profile {name!r} (known: {sorted(PROFILES)})"
        )
    out = set(PROFILES[name])
    for tag in camera.tags:
        out |= TAG_FEATURES.get(tag, frozenset())
    return frozenset(out)
