"""Zone and line rules over tracks: intrusion, loitering, line crossing, crowd.

Geometry is in normalised image coordinates (the registry's), on each box's bottom-centre
point (where a person or vehicle touches the ground). Every rule keeps per-track state so
one incident raises one event, and crowd (a count, not a track) has a cooldown instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from sharpeye.registry.schema import Line, Zone

Point = tuple[float, float]
# Box jitter makes a track standing on a line flip sides every look; only a point this far
# (normalised distance) from the line counts as being on a side.
LINE_BAND = 0.01


def in_polygon(point: Point, polygon: list[tuple[float, float]]) -> bool:
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0


def polygon_area(polygon: list[tuple[float, float]]) -> float:
    return float(abs(cv2.contourArea(np.asarray(polygon, np.float32))))


def side_of(line: Line, p: Point) -> float:
    """> 0 right of the line as seen walking from its first point to its second (image y
    grows downwards, which flips the usual sign), < 0 left, 0 on it."""
    (x1, y1), (x2, y2) = line.points
    return (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1)


def _within_segment(line: Line, a: Point, b: Point) -> bool:
    """Does the move a→b cross the line *segment* (not just its infinite extension)?"""
    (x1, y1), (x2, y2) = line.points
    dx, dy = x2 - x1, y2 - y1
    denom = (b[0] - a[0]) * dy - (b[1] - a[1]) * dx
    if abs(denom) < 1e-12:
        return False
    t = ((x1 - a[0]) * dy - (y1 - a[1]) * dx) / denom  # along a→b
    u = ((x1 - a[0]) * (b[1] - a[1]) - (y1 - a[1]) * (b[0] - a[0])) / denom  # along the line
    return 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0


@dataclass
class RuleHit:
    kind: str  # "intrusion", "loitering", "line_crossing", "crowd"
    zone_id: str | None = None
    line_id: str | None = None
    track_id: int | None = None
    value: float | None = None
    direction: str | None = None


@dataclass
class _TrackRuleState:
    entered: dict[str, float] = field(default_factory=dict)  # zone id → first time inside
    loitered: set[str] = field(default_factory=set)
    # Per line: the side the track was last clearly on, and where (see LINE_BAND).
    line_side: dict[str, tuple[bool, Point]] = field(default_factory=dict)


class ZoneLineRules:
    def __init__(
        self,
        zones: list[Zone],
        lines: list[Line],
        *,
        intrusion: bool,
        loitering: bool,
        crossing: bool,
        crowd: bool,
        loiter_s: float,
        crowd_min: int,
        crowd_hold_s: float,
        cooldown_s: float,
    ) -> None:
        self.zones, self.lines = zones, lines
        self.intrusion, self.loitering, self.crossing, self.crowd = (
            intrusion,
            loitering,
            crossing,
            crowd,
        )
        self.loiter_s, self.crowd_min = loiter_s, crowd_min
        self.crowd_hold_s, self.cooldown_s = crowd_hold_s, cooldown_s
        self._tracks: dict[int, _TrackRuleState] = {}
        self._crowd_since: dict[str, float] = {}
        self._crowd_last_event: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.density: dict[str, float] = {}

    def forget(self, track_ids: Iterable[int]) -> None:
        for t in track_ids:
            self._tracks.pop(t, None)

    def update(
        self, at: float, tracks: list[tuple[int, str, Point]], intrusion_classes: set[str]
    ) -> list[RuleHit]:
        """tracks: (track id, class, ground point) of this look's tracked objects."""
        hits: list[RuleHit] = []
        counts = {z.id: 0 for z in self.zones}
        for track_id, cls, p in tracks:
            st = self._tracks.setdefault(track_id, _TrackRuleState())
            for z in self.zones:
                inside = in_polygon(p, z.polygon)
                if inside and cls == "person":
                    counts[z.id] += 1
                if not inside:
                    st.entered.pop(z.id, None)
                    continue
                if z.id not in st.entered:
                    st.entered[z.id] = at
                    if self.intrusion and cls in intrusion_classes:
                        hits.append(RuleHit("intrusion", zone_id=z.id, track_id=track_id))
                stay = at - st.entered[z.id]
                loiters = self.loitering and cls == "person" and stay >= self.loiter_s
                if loiters and z.id not in st.loitered:
                    st.loitered.add(z.id)
                    hits.append(RuleHit("loitering", zone_id=z.id, track_id=track_id, value=stay))
            if self.crossing:
                hits.extend(self._crossings(track_id, st, p))
        self.counts = counts
        for z in self.zones:
            area = polygon_area(z.polygon)
            self.density[z.id] = counts[z.id] / area if area > 0 else 0.0
        if self.crowd:
            hits.extend(self._crowds(at, counts))
        return hits

    def _crossings(self, track_id: int, st: _TrackRuleState, b: Point) -> list[RuleHit]:
        out = []
        for line in self.lines:
            (x1, y1), (x2, y2) = line.points
            dist = side_of(line, b) / max(1e-9, ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5)
            if abs(dist) < LINE_BAND:
                continue
            right = dist > 0
            before = st.line_side.get(line.id)
            st.line_side[line.id] = (right, b)
            if before is None or before[0] == right or not _within_segment(line, before[1], b):
                continue
            # Left to right as seen walking from the first point to the second.
            direction = "left_to_right" if right else "right_to_left"
            if line.direction in ("both", direction):
                out.append(
                    RuleHit(
                        "line_crossing", line_id=line.id, track_id=track_id, direction=direction
                    )
                )
        return out

    def _crowds(self, at: float, counts: dict[str, int]) -> list[RuleHit]:
        out = []
        for zone_id, n in counts.items():
            if n < self.crowd_min:
                self._crowd_since.pop(zone_id, None)
                continue
            since = self._crowd_since.setdefault(zone_id, at)
            last = self._crowd_last_event.get(zone_id, -float("inf"))
            if at - since >= self.crowd_hold_s and at - last >= self.cooldown_s:
                self._crowd_last_event[zone_id] = at
                out.append(RuleHit("crowd", zone_id=zone_id, value=float(n)))
        return out
