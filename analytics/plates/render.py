"""Rendered Chinese plates (synthetic, for tests and demo scenes) with a Debian CJK font."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from analytics.plates.text import display, plate_kind

FONT_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)


class FontMissingError(RuntimeError):
    """No CJK font: install Debian's fonts-wqy-zenhei (scripts/install-system.sh does)."""


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    for p in FONT_PATHS:
        if p.exists():
            return ImageFont.truetype(str(p), size)
    raise FontMissingError("no CJK font found; apt-get install fonts-wqy-zenhei")


# Plate styles (GA 36): background RGB, ink RGB. Police plates print 警 in red.
STYLES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue": ((20, 60, 190), (245, 245, 245)),
    "yellow": ((240, 190, 20), (10, 10, 10)),
    "white": ((240, 240, 236), (10, 10, 10)),
    "black": ((15, 15, 15), (245, 245, 245)),
}
POLICE_RED = (200, 20, 20)


def default_style(text: str) -> str:
    """The colour a plate of this text carries: white police, black HK/Macau, else blue."""
    if plate_kind(text) == "new_energy":
        return "green"
    if text.endswith("警"):
        return "white"
    if text.endswith(("港", "澳")):
        return "black"
    return "blue"


def render_plate(text: str, height: int = 70, style: str | None = None) -> NDArray[np.uint8]:
    """A BGR plate image: blue, yellow, white (police) or black with their ink, or the green
    gradient with black (new energy). `style` defaults to the one the text implies."""
    kind = plate_kind(text)
    if kind is None:
        raise ValueError(f"{text!r} is not a plate")
    style = style or default_style(text)
    label = display(text)
    width = int(height * (3.4 if kind == "new_energy" else 3.1))
    if style == "green":
        top, bottom = np.array([245, 250, 240]), np.array([80, 200, 110])  # RGB
        ramp = np.linspace(0, 1, height)[:, None, None]
        bg = (top * (1 - ramp) + bottom * ramp).astype(np.uint8).repeat(width, 1)
        ink: tuple[int, int, int] = (10, 10, 10)
    else:
        colour, ink = STYLES[style]
        bg = np.zeros((height, width, 3), np.uint8)
        bg[:] = colour
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    size = int(height * 0.68)
    font = cjk_font(size)
    box = draw.textbbox((0, 0), label, font=font)
    while box[2] - box[0] > width * 0.9:  # 8-character plates: shrink to fit the plate
        size -= 2
        font = cjk_font(size)
        box = draw.textbbox((0, 0), label, font=font)
    x = (width - (box[2] - box[0])) // 2 - box[0]
    y = (height - (box[3] - box[1])) // 2 - box[1]
    if label.endswith("警"):
        # The red 警 follows the black characters where the whole label would have put it.
        draw.text((x, y), label[:-1], font=font, fill=ink)
        lead = draw.textlength(label[:-1], font=font)
        draw.text((x + lead, y), label[-1], font=font, fill=POLICE_RED)
    else:
        draw.text((x, y), label, font=font, fill=ink)
    draw.rectangle([2, 2, width - 3, height - 3], outline=ink, width=2)
    return np.asarray(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR), np.uint8)
