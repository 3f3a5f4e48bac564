"""Zone, line, loitering and crowd rules on crafted tracks (normalised coordinates)."""

from __future__ import annotations

import pytest

from analytics.rules import ZoneLineRules
from sharpeye.registry.schema import Line, Zone

ZONE = Zone(id="gate", name="Gate", polygon=[(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)])
# Vertical line at x = 0.5, walked from top (0.5, 0.1) to bottom (0.5, 0.9): seen from the
# first point looking down the image, image-left (x < 0.5) is on the walker's right.
LINE = Line(id="l", name="L", points=((0.5, 0.1), (0.5, 0.9)), direction="both")


def rules(**kw: object) -> ZoneLineRules:
    args: dict[str, object] = dict(
        intrusion=True, loitering=True, crossing=True, crowd=True, loiter_s=10.0,
        crowd_min=3, crowd_hold_s=2.0, cooldown_s=30.0,
    )  # fmt: skip
    args.update(kw)
    lines = args.pop("lines", [LINE])
    return ZoneLineRules([ZONE], lines, **args)  # type: ignore[arg-type]


def test_intrusion_once_per_entry_and_only_for_listed_classes() -> None:
    r = rules()
    kinds = []
    for t, x in enumerate([0.2, 0.45, 0.5, 0.55, 0.8, 0.5]):
        kinds += [
            (h.kind, h.track_id)
            for h in r.update(t, [(1, "person", (x, 0.5))], {"person"})
            if h.kind == "intrusion"
        ]
        r.update(t, [(2, "dog", (0.5, 0.5))], {"person"})
    assert kinds == [("intrusion", 1), ("intrusion", 1)]  # entered, left, entered again


def test_loitering_after_the_hold_time_once() -> None:
    r = rules()
    hits = [
        h for t in range(0, 30, 2) for h in r.update(float(t), [(7, "person", (0.5, 0.5))], set())
    ]
    loiter = [h for h in hits if h.kind == "loitering"]
    assert len(loiter) == 1 and loiter[0].value is not None and loiter[0].value >= 10.0


@pytest.mark.parametrize(
    ("direction", "path", "expected"),
    [
        ("both", [0.3, 0.7], ["right_to_left"]),
        ("both", [0.7, 0.3], ["left_to_right"]),
        ("left_to_right", [0.3, 0.7], []),
        ("left_to_right", [0.7, 0.3], ["left_to_right"]),
        ("both", [0.3, 0.505, 0.495, 0.505, 0.3], []),  # jitter on the line is not a crossing
        ("both", [0.3, 0.7, 0.3], ["right_to_left", "left_to_right"]),
    ],
)
def test_line_crossing_direction(direction: str, path: list[float], expected: list[str]) -> None:
    line = LINE.model_copy(update={"direction": direction})
    r = rules(lines=[line], intrusion=False)
    got = [
        h.direction
        for t, x in enumerate(path)
        for h in r.update(float(t), [(1, "car", (x, 0.3))], set())
        if h.kind == "line_crossing"
    ]
    assert got == expected


def test_crossing_beyond_the_segment_does_not_count() -> None:
    r = rules(intrusion=False)
    hits = [
        h
        for t, x in enumerate([0.3, 0.7])
        for h in r.update(float(t), [(1, "car", (x, 0.95))], set())
    ]
    assert not [h for h in hits if h.kind == "line_crossing"]


def test_crowd_needs_count_for_hold_time_then_cools_down() -> None:
    r = rules(intrusion=False, loitering=False)
    people = [(i, "person", (0.45 + 0.02 * i, 0.5)) for i in range(4)]
    crowd_at = []
    for t in range(0, 40):
        present = people if t >= 5 else people[:2]
        crowd_at += [(t, h.value) for h in r.update(float(t), present, set()) if h.kind == "crowd"]
    assert crowd_at == [(7, 4.0), (37, 4.0)]  # held 2 s, then again after the 30 s cooldown
    assert r.counts == {"gate": 4}
    assert r.density["gate"] == pytest.approx(4 / 0.04)
