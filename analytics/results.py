"""What one analysed frame yields, and how severe each event type is by default."""

from __future__ import annotations

from dataclasses import dataclass, field

from sharpeye.contracts.detections import FrameDetections
from sharpeye.contracts.events import Event, SeverityName
from sharpeye.contracts.sightings import Sighting

# The producer's estimate; the command API's alarm rules may override it.
SEVERITY: dict[str, SeverityName] = {
    "fire": "critical",
    "smoke": "high",
    "intrusion": "high",
    "watchlist_face": "high",
    "watchlist_plate": "high",
    "cloned_plate": "high",
    "crowd": "medium",
    "loitering": "medium",
    "line_crossing": "low",
}


@dataclass
class FrameResult:
    detections: FrameDetections
    events: list[Event] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    density: dict[str, float] = field(default_factory=dict)
