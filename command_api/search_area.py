"""Where a search looks: a circle (`near=lat,lon,radius_m`) or a polygon drawn on the map
(`area=lat,lon;lat,lon;lat,lon...`), turned into the registry cameras that stand inside it.

Sightings carry their camera, not a position: a sighting is in the area when its camera is.
A malformed area is a 422 naming what is wrong; an area with no camera in it finds nothing
(and says so by an empty answer, not an error).
"""

from __future__ import annotations

import math

from fastapi import HTTPException

from sharpeye.geo import haversine_km, in_polygon
from sharpeye.registry import Registry

MAX_VERTICES = 64
MAX_RADIUS_M = 100_000.0


def _floats(text: str, what: str, n: int) -> list[float]:
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise HTTPException(422, f"{what}: expected {n} numbers separated by commas")
    return values


def _lat_lon(lat: float, lon: float, what: str) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise HTTPException(422, f"{what}: latitude or longitude out of range")


def cameras_in_area(registry: Registry, near: str | None, area: str | None) -> set[str] | None:
    """The cameras inside `near` and/or `area` (both: inside both); None when neither."""
    if near is None and area is None:
        return None
    ids = {c.id for c in registry.cameras}
    if near is not None:
        lat, lon, radius_m = _floats(near, "near", 3)
        _lat_lon(lat, lon, "near")
        if not 0 < radius_m <= MAX_RADIUS_M:
            raise HTTPException(422, f"near: the radius must be 0-{MAX_RADIUS_M:.0f} m")
        ids &= {
            c.id
            for c in registry.cameras
            if haversine_km(lat, lon, c.location.lat, c.location.lon) * 1000 <= radius_m
        }
    if area is not None:
        corners = [_floats(p, f"area point {i + 1}", 2) for i, p in enumerate(area.split(";")) if p]
        if not 3 <= len(corners) <= MAX_VERTICES:
            raise HTTPException(422, f"area: 3 to {MAX_VERTICES} points (lat,lon;lat,lon;...)")
        for i, (lat, lon) in enumerate(corners):
            _lat_lon(lat, lon, f"area point {i + 1}")
        polygon = [(lat, lon) for lat, lon in corners]
        ids &= {
            c.id for c in registry.cameras if in_polygon(c.location.lat, c.location.lon, polygon)
        }
    return ids
