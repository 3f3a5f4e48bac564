"""A synthetic junction: real vehicles cut from Debian's opencv-doc photos drive across real
footage (vtest's square as the road) carrying rendered Chinese plates, for vehicle detection,
plate reading and line crossing.

Drawn boxes are not cars to a COCO detector; photographed vehicles are (NanoDet scores the
bus 0.81 and the estate car 0.65 in their photos), so the demo's detector, tracker and plate
reader all run on what they would see at a real junction. Each photo's crop is fixed here
(its vehicle only), scaled to its lane, mirrored when it drives the other way, and its
plate is pasted where a plate would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from analytics.plates.render import render_plate

Frame = NDArray[np.uint8]
FEATHER_PX = 3  # soft edge of a pasted vehicle: a hard one reads as a sticker


@dataclass(frozen=True)
class VehiclePhoto:
    """A vehicle in one of the prepared photos (var/footage/images)."""

    image: str  # file name under footage/images
    box: tuple[int, int, int, int]  # xyxy crop holding the vehicle and little else
    plate_at: tuple[float, float]  # plate centre, fraction of the crop (as photographed)
    faces_right: bool  # which way the vehicle drives as photographed


# London bus (dnn tutorial photo): its own plate is at the front bumper, bottom right.
BUS = VehiclePhoto("pexels_double_decker_bus.jpg", (60, 110, 480, 395), (0.87, 0.9), True)
# Parked estate car (text-module photo), seen from the side, rear to the right: the plate
# goes on the rear quarter, under the tail light. The crop stops before the passer-by.
ESTATE = VehiclePhoto("scenetext01.jpg", (395, 410, 678, 590), (0.86, 0.66), False)


@dataclass(frozen=True)
class Vehicle:
    plate: str
    photo: VehiclePhoto
    ground: float  # normalised y of the lane (the vehicle's bottom edge)
    enter: int  # frame at which its front reaches the frame's edge
    speed: float  # normalised x per frame; > 0 drives right
    width: float = 0.34  # of the frame width
    plate_height: float = 0.05  # of the frame height: large enough for OCR at 720p
    plate_style: str | None = None  # render_plate's style; None: what the text implies


def sprite(
    photo: Frame, v: Vehicle, frame_size: tuple[int, int]
) -> tuple[Frame, NDArray[np.float32]]:
    """The vehicle's picture at its size and heading, its plate on, and a soft alpha mask."""
    w, h = frame_size
    x1, y1, x2, y2 = v.photo.box
    crop = photo[y1:y2, x1:x2]
    sw = int(v.width * w)
    sh = int(sw * crop.shape[0] / crop.shape[1])
    img = np.asarray(cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA), np.uint8)
    alpha = cutout(img)
    px, py = v.photo.plate_at
    if (v.speed > 0) != v.photo.faces_right:  # the same vehicle driving the other way
        img, alpha = np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(alpha[:, ::-1])
        px = 1.0 - px
    plate = render_plate(v.plate, height=max(16, int(v.plate_height * h)), style=v.plate_style)
    ph, pw = plate.shape[:2]
    ax = min(max(0, int(px * sw - pw / 2)), sw - pw)
    ay = min(max(0, int(py * sh - ph / 2)), sh - ph)
    img[ay : ay + ph, ax : ax + pw] = plate
    alpha[ay : ay + ph, ax : ax + pw] = 1.0  # the whole plate shows, whatever the cutout
    return img, alpha


def cutout(crop: Frame) -> NDArray[np.float32]:
    """Soft 0..1 mask of the vehicle in its crop, without the street behind it.

    GrabCut from the crop's border finds the vehicle; its convex hull fills what GrabCut
    misses (shiny silver panels, dark tyres look like background) and a vehicle's outline
    is nearly convex anyway. Falls back to the whole crop if nothing sensible is found.
    """
    h, w = crop.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    models = (np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64))
    cv2.grabCut(crop, mask, (3, 3, w - 6, h - 6), *models, 5, cv2.GC_INIT_WITH_RECT)
    fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros((h, w), np.uint8)
    if contours:
        cv2.fillPoly(hull, [cv2.convexHull(max(contours, key=cv2.contourArea))], 255)
    if hull.mean() < 0.3 * 255:
        hull[:] = 255
    soft = cv2.GaussianBlur(hull.astype(np.float32) / 255, (0, 0), FEATHER_PX)
    return np.asarray(soft, np.float32)


def paste(frame: Frame, img: Frame, alpha: NDArray[np.float32], x: int, y: int) -> None:
    """Blend `img` into `frame` with its top-left at (x, y), clipped to the frame."""
    h, w = frame.shape[:2]
    sh, sw = img.shape[:2]
    xa, ya, xb, yb = max(0, x), max(0, y), min(w, x + sw), min(h, y + sh)
    if xb <= xa or yb <= ya:
        return
    a = alpha[ya - y : yb - y, xa - x : xb - x, None]
    src = img[ya - y : yb - y, xa - x : xb - x].astype(np.float32)
    dst = frame[ya:yb, xa:xb].astype(np.float32)
    frame[ya:yb, xa:xb] = (src * a + dst * (1 - a)).astype(np.uint8)


def position(v: Vehicle, i: int, sprite_w: int, frame_w: int) -> int | None:
    """Left x of the vehicle at frame i; None before it enters or once it has left."""
    travelled = abs(v.speed) * (i - v.enter) * frame_w
    if travelled < 0 or travelled > frame_w + sprite_w:
        return None
    # Enters with its front at the edge it drives in from.
    return int(travelled - sprite_w) if v.speed > 0 else int(frame_w - travelled)


def junction(background: Iterator[Frame], vehicles: list[Vehicle], images: Path) -> Iterator[Frame]:
    """The background frames with the vehicles driving through; farther lanes drawn first."""
    photos = {v.photo.image: np.asarray(cv2.imread(str(images / v.photo.image)), np.uint8)
              for v in vehicles}  # fmt: skip
    sprites: dict[int, tuple[Frame, NDArray[np.float32]]] = {}
    order = sorted(range(len(vehicles)), key=lambda k: vehicles[k].ground)
    for i, frame in enumerate(background):
        h, w = frame.shape[:2]
        out = frame.copy()
        for k in order:
            v = vehicles[k]
            if k not in sprites:
                sprites[k] = sprite(photos[v.photo.image], v, (w, h))
            img, alpha = sprites[k]
            x = position(v, i, img.shape[1], w)
            if x is not None:
                paste(out, img, alpha, x, int(v.ground * h) - img.shape[0])
        yield out
