"""Distances and polygons on the map (WGS84 degrees)."""

from __future__ import annotations

import pytest

from sharpeye.geo import haversine_km, in_polygon


def test_haversine_against_known_distances() -> None:
    # One degree of latitude is ~111.2 km anywhere; Hefei to Nanjing, ~150 km as the crow flies.
    assert haversine_km(31.0, 117.0, 32.0, 117.0) == pytest.approx(111.2, abs=0.1)
    assert haversine_km(31.8206, 117.2272, 32.0603, 118.7969) == pytest.approx(150, abs=10)
    assert haversine_km(31.8, 117.2, 31.8, 117.2) == 0.0


def test_point_in_polygon_concave_and_edges() -> None:
    # An L-shaped area: its notch is outside.
    shape = [(0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (2.0, 0.0)]
    assert in_polygon(0.5, 0.5, shape) and in_polygon(0.5, 1.5, shape)
    assert in_polygon(1.5, 0.5, shape) and not in_polygon(1.5, 1.5, shape)
    assert not in_polygon(3.0, 3.0, shape) and not in_polygon(-0.1, 0.5, shape)
