"""A ByteTrack-style multi-object tracker, one per camera.

supervision 0.31 no longer ships ByteTrack (it moved to a package that pulls in torch), so
this is the algorithm itself, kept small: constant-velocity box prediction, then two
association rounds (confident detections first, then low-score ones to keep tracks alive
through occlusion), Hungarian matching on IoU, tracks born only from confident detections
and confirmed after `min_hits` frames. Time is the frame's timestamp, so sampling at 1 fps
or 10 fps only changes how far a box may move between looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import supervision as sv
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]


def iou_matrix(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou: NDArray[np.float32] = (inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)).astype(
        np.float32
    )
    return iou


@dataclass
class _Track:
    track_id: int
    box: NDArray[np.float32]
    class_id: int
    at: float
    velocity: NDArray[np.float32] = field(default_factory=lambda: np.zeros(4, np.float32))
    hits: int = 1

    def predict(self, at: float) -> NDArray[np.float32]:
        # Damped: velocity from two looks seconds apart is a rough guess, not a trajectory.
        dt = min(at - self.at, 2.0)
        return self.box + self.velocity * dt * 0.7

    def update(self, box: NDArray[np.float32], class_id: int, at: float) -> None:
        dt = at - self.at
        if dt > 1e-6:
            self.velocity = 0.5 * self.velocity + 0.5 * (box - self.box) / dt
        self.box, self.class_id, self.at = box, class_id, at
        self.hits += 1


class ByteTracker:
    def __init__(
        self,
        high_score: float = 0.5,
        low_score: float = 0.2,
        match_iou: float = 0.2,
        lost_after_s: float = 3.0,
        min_hits: int = 2,
    ) -> None:
        self.high, self.low, self.match_iou = high_score, low_score, match_iou
        self.lost_after_s, self.min_hits = lost_after_s, min_hits
        self.tracks: list[_Track] = []
        self._next_id = 1

    def _associate(
        self, tracks: list[_Track], boxes: NDArray[np.float32], at: float
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        if not tracks or len(boxes) == 0:
            return [], list(range(len(tracks))), list(range(len(boxes)))
        predicted = np.stack([t.predict(at) for t in tracks]).astype(np.float32)
        iou = iou_matrix(predicted, boxes)
        rows, cols = linear_sum_assignment(-iou)
        pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= self.match_iou]
        used_t, used_d = {r for r, _ in pairs}, {c for _, c in pairs}
        return (
            pairs,
            [i for i in range(len(tracks)) if i not in used_t],
            [j for j in range(len(boxes)) if j not in used_d],
        )

    def update(self, detections: sv.Detections, at: float) -> sv.Detections:
        """Detections of one frame at time `at` (s) → those on tracks, with `tracker_id`
        set (-1 for a track not yet confirmed); unmatched low-score boxes are dropped."""
        self.tracks = [t for t in self.tracks if at - t.at <= self.lost_after_s]
        conf = (
            detections.confidence if detections.confidence is not None else np.ones(len(detections))
        )
        class_ids = (
            detections.class_id
            if detections.class_id is not None
            else np.zeros(len(detections), int)
        )
        boxes = detections.xyxy.astype(np.float32)
        high = np.flatnonzero(conf >= self.high)
        low = np.flatnonzero((conf < self.high) & (conf >= self.low))
        assigned: dict[int, int] = {}  # detection index → track id

        pairs, left_t, left_d = self._associate(self.tracks, boxes[high], at)
        for ti, di in pairs:
            t = self.tracks[ti]
            t.update(boxes[high[di]], int(class_ids[high[di]]), at)
            assigned[int(high[di])] = t.track_id
        remaining = [self.tracks[i] for i in left_t]
        pairs2, _, _ = self._associate(remaining, boxes[low], at)
        for ti, di in pairs2:
            t = remaining[ti]
            t.update(boxes[low[di]], t.class_id, at)  # a weak box keeps the track's class
            assigned[int(low[di])] = t.track_id
        for di in left_d:
            idx = int(high[di])
            t = _Track(self._next_id, boxes[idx], int(class_ids[idx]), at)
            self._next_id += 1
            self.tracks.append(t)
            assigned[idx] = t.track_id
        hits = {t.track_id: t.hits for t in self.tracks}
        keep = sorted(assigned)
        out = cast(sv.Detections, detections[np.array(keep, dtype=int)])
        out.tracker_id = np.array(
            [assigned[i] if hits[assigned[i]] >= self.min_hits else -1 for i in keep], dtype=int
        )
        return out

    def hold(self, at: float) -> None:
        """Nothing moved since the last look (the motion gate said so): every track is
        where it was, seen now. Keeps still objects tracked while the detector rests."""
        for t in self.tracks:
            t.at = at
            t.velocity[:] = 0

    def live_ids(self) -> set[int]:
        return {t.track_id for t in self.tracks}
