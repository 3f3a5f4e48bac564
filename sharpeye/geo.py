"""Distances and areas on the map, in WGS84 degrees as the registry gives camera locations."""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_KM = 6371.0088  # mean radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance."""
    la1, la2 = math.radians(lat1), math.radians(lat2)
    across = math.cos(la1) * math.cos(la2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    h = math.sin((la2 - la1) / 2) ** 2 + across
    return 2 * EARTH_KM * math.asin(math.sqrt(min(1.0, h)))


def in_polygon(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Whether a point lies inside a polygon of (lat, lon) vertices (even-odd rule; the
    vertices taken as plane coordinates, right for a district, not across the antimeridian)."""
    inside = False
    j = len(polygon) - 1
    for i, (yi, xi) in enumerate(polygon):
        yj, xj = polygon[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside
