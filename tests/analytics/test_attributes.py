"""Colour attributes from a track's best crop: the names a witness uses."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.attributes import attributes_of, dominant_color

BGR = {
    "white": (235, 235, 235),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
    "red": (30, 30, 200),
    "yellow": (40, 210, 230),
    "green": (40, 160, 40),
    "blue": (200, 90, 30),
    "brown": (30, 70, 110),
}


@pytest.mark.parametrize("name", sorted(BGR))
def test_a_plain_colour_is_named(name: str) -> None:
    crop = np.full((60, 80, 3), BGR[name], np.uint8)
    noise = np.random.default_rng(1).integers(-8, 9, crop.shape)
    assert dominant_color(np.clip(crop + noise, 0, 255).astype(np.uint8)) == name


def test_a_white_car_on_a_gray_road_is_white() -> None:
    crop = np.full((100, 160, 3), BGR["gray"], np.uint8)  # the road around it, in the box
    crop[15:85, 20:140] = BGR["white"]
    assert attributes_of("car", crop) == {"color": "white"}


def test_a_person_has_upper_and_lower_colours() -> None:
    crop = np.full((200, 80, 3), BGR["gray"], np.uint8)
    crop[35:105] = BGR["red"]  # jacket
    crop[105:180] = BGR["black"]  # trousers
    assert attributes_of("person", crop) == {"upper_color": "red", "lower_color": "black"}


def test_no_colour_is_said_when_none_dominates_or_the_crop_is_tiny() -> None:
    stripes = np.zeros((60, 80, 3), np.uint8)
    for i, name in enumerate(("red", "green", "blue", "yellow")):
        stripes[:, i * 20 : (i + 1) * 20] = BGR[name]
    assert dominant_color(stripes) is None
    assert attributes_of("car", np.zeros((4, 4, 3), np.uint8)) == {}
    assert attributes_of("dog", np.full((60, 80, 3), 200, np.uint8)) == {}
