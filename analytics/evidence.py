"""Snapshot JPEGs in the evidence store (`<data_dir>/evidence`), referenced by relative path.

Events and sightings carry the reference only (the events contract forbids the bytes).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
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


def marked(image: NDArray[np.uint8], box: tuple[float, float, float, float]) -> NDArray[np.uint8]:
    """A copy of the frame with the detection that raised the event drawn on it (box in
    0-1 coordinates): what a duty officer looks at. The frame itself is kept unmarked."""
    out = image.copy()
    h, w = out.shape[:2]
    x1, y1, x2, y2 = (round(v * s) for v, s in zip(box, (w, h, w, h), strict=True))
    thick = max(2, round(min(w, h) / 180))
    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), thick)  # red, in BGR
    return out


def prune_evidence(root: Path, before: float, locked: Collection[str] = ()) -> int:
    """Delete the day folders (`<kind>/<camera>/<YYYYMMDD>`) of the evidence store whose whole
    day (UTC) ended before `before` (unix time); returns how many files went. Whole days: a
    store of millions of snapshots is pruned by listing folders, not files. Files whose
    reference is `locked` (kept for a case) stay, and so does their folder. Recordings are
    not this pass's: each camera keeps them its own `retain_days` within the recording node's
    disk budget (`ingest.recording_index`)."""
    if not root.is_dir():
        return 0
    cutoff = time.strftime("%Y%m%d", time.gmtime(before - 86400))  # days that ended before
    removed = 0
    for day in sorted(root.glob("*/*/[0-9]" + "[0-9]" * 7)):
        if not day.is_dir() or day.name > cutoff or day.parts[-3] == "recordings":
            continue
        for item in day.iterdir():
            if item.is_file() and item.relative_to(root).as_posix() not in locked:
                item.unlink(missing_ok=True)
                removed += 1
        with contextlib.suppress(OSError):  # something else in it: leave the folder
            day.rmdir()
    return removed
