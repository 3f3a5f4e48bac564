"""Drawn vehicles (a plain rear view) carrying rendered Chinese plates, moved across real
footage: for the plate-reading tests, whose detector is scripted with the drawn boxes.
(The demo junction uses photographed vehicles a real detector finds: analytics.scenes.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from analytics.plates.render import render_plate


@dataclass(frozen=True)
class Vehicle:
    plate: str
    colour: tuple[int, int, int]  # BGR body colour
    start: tuple[float, float]  # normalised centre at frame 0
    velocity: tuple[float, float]  # normalised per frame
    width: float = 0.22  # of the frame width


def draw_vehicle(frame: NDArray[np.uint8], v: Vehicle, centre: tuple[float, float]) -> None:
    """A rear view: body, rear window, lights and the plate, in place."""
    h, w = frame.shape[:2]
    bw = int(v.width * w)
    bh = int(bw * 0.75)
    x1, y1 = int(centre[0] * w - bw / 2), int(centre[1] * h - bh / 2)
    cv2.rectangle(frame, (x1, y1), (x1 + bw, y1 + bh), v.colour, -1)
    cv2.rectangle(
        frame, (x1 + bw // 8, y1 + bh // 10), (x1 + 7 * bw // 8, y1 + bh // 2), (50, 45, 40), -1
    )
    for lx in (x1 + bw // 16, x1 + 13 * bw // 16):
        cv2.rectangle(
            frame, (lx, y1 + 6 * bh // 10), (lx + bw // 8, y1 + 7 * bh // 10), (30, 30, 200), -1
        )
    plate = render_plate(v.plate, height=max(16, bh // 6))
    ph, pw = plate.shape[:2]
    px, py = x1 + (bw - pw) // 2, y1 + 7 * bh // 10
    if px >= 0 and px + pw <= w and py >= 0 and py + ph <= h:
        frame[py : py + ph, px : px + pw] = plate


def junction(
    background: Iterator[NDArray[np.uint8]], vehicles: list[Vehicle]
) -> Iterator[NDArray[np.uint8]]:
    for i, frame in enumerate(background):
        out = frame.copy()
        for v in vehicles:
            c = (v.start[0] + v.velocity[0] * i, v.start[1] + v.velocity[1] * i)
            if -0.2 < c[0] < 1.2 and -0.2 < c[1] < 1.2:
                draw_vehicle(out, v, c)
        yield out
