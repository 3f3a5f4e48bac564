"""Plain polygon checks for zones (a handful of points each, so O(n²) is fine; no shapely)."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]

# Normalised coordinates: an area below this is a degenerate (collinear) polygon, not a zone.
MIN_AREA = 1e-9


def polygon_area(points: Sequence[Point]) -> float:
    """Unsigned area by the shoelace formula."""
    total = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def _orientation(a: Point, b: Point, c: Point) -> int:
    cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    if abs(cross) < 1e-12:
        return 0
    return 1 if cross > 0 else -1


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    """True if segment ab touches segment cd (collinear overlaps and end points included)."""
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def self_intersection(points: Sequence[Point]) -> tuple[int, int] | None:
    """Indices (i, j) of two crossing edges (edge k runs from point k to k+1), or None.

    Adjacent edges share a vertex by construction, so they only count if they fold back
    onto each other.
    """
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        a, b = edges[i]
        for j in range(i + 1, n):
            c, d = edges[j]
            adjacent = j == i + 1 or (i == 0 and j == n - 1)
            if adjacent:
                # Shared vertex is fine; a fold-back (collinear overlap) is not.
                shared, other_i, other_j = (b, a, d) if j == i + 1 else (a, b, c)
                if _orientation(other_i, shared, other_j) == 0 and (
                    _on_segment(shared, other_i, other_j) or _on_segment(shared, other_j, other_i)
                ):
                    return (i, j)
                continue
            if segments_intersect(a, b, c, d):
                return (i, j)
    return None


def polygon_problem(points: Sequence[Point]) -> str | None:
    """Why `points` is not a usable zone polygon, or None if it is."""
    if len(points) < 3:
        return f"a polygon needs at least 3 points, got {len(points)}"
    if len(set(points)) != len(points):
        return "polygon repeats a point"
    if all(_orientation(points[0], points[1], p) == 0 for p in points[2:]):
        return "polygon has zero area (all points on one line)"
    crossing = self_intersection(points)
    if crossing is not None:
        i, j = crossing
        n = len(points)
        return (
            f"polygon is self-intersecting: edge {i}->{(i + 1) % n} crosses edge {j}->{(j + 1) % n}"
        )
    if polygon_area(points) < MIN_AREA:
        return "polygon has zero area"
    return None
