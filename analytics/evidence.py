"""Snapshot JPEGs in the evidence store (`<data_dir>/evidence`), referenced by relative path.

Events and sightings carry the reference only (the events contract forbids the bytes).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray


class EvidenceStore:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    def save(self, kind: str, camera_id: str, name: str, image: NDArray[np.uint8]) -> str | None:
        """Write a JPEG; returns its reference ('snapshots/<camera>/<day>/<name>.jpg')."""
        if self.root is None or image.size == 0:
            return None
        day = time.strftime("%Y%m%d", time.gmtime())
        ref = f"{kind}/{camera_id}/{day}/{name}.jpg"
        path = self.root / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return None
        path.write_bytes(buf.tobytes())
        return ref
