"""A crowd gathering (composite): real people cut from vtest frames walk from the edges of
the empty square (the clip's per-pixel median) to a meeting point and stay there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Frame = NDArray[np.uint8]


def person_cutouts(frames: dict[int, Frame], boxes: dict[int, list[list[float]]]) -> list[Frame]:
    """Crops of annotated people (normalised xyxy per frame index)."""
    out = []
    for idx, frame in frames.items():
        h, w = frame.shape[:2]
        for x1, y1, x2, y2 in boxes.get(idx, []):
            crop = frame[int(y1 * h) : int(y2 * h), int(x1 * w) : int(x2 * w)]
            if crop.shape[0] > 20 and crop.shape[1] > 8:
                out.append(crop.copy())
    return out


def load_annotations(path: Path) -> dict[int, list[list[float]]]:
    data = json.loads(path.read_text())
    return {int(k): v for k, v in data["frames"].items()}


def gathering(
    background: Frame,
    people: list[Frame],
    meet: tuple[float, float] = (0.55, 0.55),
    frames: int = 100,
    arrive_by: int = 60,
    seed: int = 11,
) -> Iterator[Frame]:
    """`frames` frames; each person walks from a random edge point to near `meet`, arriving
    by frame `arrive_by`, then stands (sways a little)."""
    rng = np.random.default_rng(seed)
    h, w = background.shape[:2]
    starts = [(float(rng.choice([0.02, 0.98])), float(rng.uniform(0.3, 0.9))) for _ in people]
    ends = [
        (meet[0] + float(rng.normal(0, 0.07)), meet[1] + float(rng.normal(0, 0.05))) for _ in people
    ]
    for i in range(frames):
        out = background.copy()
        a = min(1.0, i / arrive_by)
        order = sorted(range(len(people)), key=lambda k: starts[k][1] * (1 - a) + ends[k][1] * a)
        for k in order:  # farther (higher) people first, nearer ones over them
            p = people[k]
            sway = 0.004 * np.sin(i / 3 + k) if a >= 1 else 0.0
            cx = (starts[k][0] * (1 - a) + ends[k][0] * a + sway) * w
            foot = (starts[k][1] * (1 - a) + ends[k][1] * a) * h
            ph, pw = p.shape[:2]
            x1, y1 = int(cx - pw / 2), int(foot - ph)
            xa, ya, xb, yb = max(0, x1), max(0, y1), min(w, x1 + pw), min(h, y1 + ph)
            if xb > xa and yb > ya:
                out[ya:yb, xa:xb] = p[ya - y1 : yb - y1, xa - x1 : xb - x1]
        yield out
