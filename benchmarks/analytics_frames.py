"""Frames and cameras shared by the analytics benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sharpeye.registry.schema import Camera

Frame = NDArray[np.uint8]
T0 = 1_800_000_000.0


def read_frames(path: Path, indices: list[int]) -> list[Frame]:
    import av

    wanted, out = set(indices), {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in wanted:
                out[i] = np.asarray(f.to_ndarray(format="bgr24"), np.uint8)
            if i >= max(indices):
                break
    return [out[i] for i in indices]


def camera(cid: str, profile: str, **analytics: Any) -> Camera:
    return Camera.model_validate(
        {
            "id": cid,
            "name": cid,
            "department": "bench",
            "location": {"lat": 0, "lon": 0},
            "streams": {"main": f"rtsp://127.0.0.1/{cid}"},
            "analytics": {"profile": profile, **analytics},
        }
    )
