"""The analytics pipeline of one worker: gate → batched detection → per-camera analytics.

    frames (camera, image, time) ─► motion gate (per camera) ─► one detector call for all
    frames that passed (a batch across cameras) ─► tracker + rules + fire/faces/plates
    ─► FrameResult (detections, events, ended tracks' sightings)

`process` is synchronous and used as-is by `sharpeye analyze`, the tests and the benchmark;
the live worker feeds it batches from `DynamicBatcher`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
from numpy.typing import NDArray

from analytics.camera import CameraAnalytics
from analytics.config import AnalyticsConfig, features_for
from analytics.detectors import Detector, build_detector
from analytics.evidence import EvidenceStore
from analytics.faces import FaceAnalyzer, FaceWatchlist
from analytics.plates.reader import PlateReader
from analytics.results import FrameResult
from sharpeye.contracts.sightings import Sighting
from sharpeye.registry import Camera


@dataclass
class PipelineStats:
    frames: int = 0
    detected_frames: int = 0
    detector_calls: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "detected_frames": self.detected_frames,
            "detector_calls": self.detector_calls,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }


@dataclass(frozen=True)
class FrameIn:
    camera_id: str
    image: NDArray[np.uint8]
    at: float  # Unix time of the frame


def load_face_watchlist(analyzer: FaceAnalyzer, directory: Path, threshold: float) -> FaceWatchlist:
    """<dir>/<person-id>/*.jpg|png, one folder per key person (folder name = id and name)."""
    import cv2

    wl = FaceWatchlist(threshold=threshold)
    for person in sorted(p for p in directory.iterdir() if p.is_dir()):
        photos = [
            np.asarray(cv2.imread(str(f)), np.uint8)
            for f in sorted(person.iterdir())
            if f.suffix.lower() in (".jpg", ".jpeg", ".png")
        ]
        photos = [p for p in photos if p.ndim == 3]  # unreadable files decode to nothing
        if photos:
            wl.add_photos(analyzer, person.name, person.name, photos)
    return wl


class Pipeline:
    def __init__(
        self,
        cameras: Sequence[Camera],
        config: AnalyticsConfig,
        data_dir: Path,
        *,
        detector: Detector | None = None,
        node_id: str | None = None,
        face_watchlist: FaceWatchlist | None = None,
    ) -> None:
        self.config = config
        features = {c.id: features_for(c) for c in cameras}
        wanted = set().union(*features.values()) if features else set()
        if detector is None and "objects" in wanted:
            detector = build_detector(config.detector, data_dir)
        self.detector = detector
        faces = (
            FaceAnalyzer(data_dir, min_size=config.faces.min_size) if "faces" in wanted else None
        )
        if faces is not None and face_watchlist is None and config.faces.watchlist_dir:
            face_watchlist = load_face_watchlist(
                faces, config.faces.watchlist_dir, config.faces.threshold
            )
        plates = None
        if "plates" in wanted:
            from analytics.plates.ocr import TextRecognizer
            from analytics.plates.textdet import TextDetector
            from sharpeye.models.manifest import resolve

            plates = PlateReader(
                TextRecognizer(resolve(data_dir, "ppocr-rec")[1]),
                config.plates.min_score,
                TextDetector(resolve(data_dir, "ppocr-det")[1])
                if config.plates.text_detect
                else None,
            )
        evidence = EvidenceStore(data_dir / "evidence" if config.evidence else None)
        self.cameras = {
            c.id: CameraAnalytics(
                c,
                features[c.id],
                config,
                faces=faces,
                face_watchlist=face_watchlist,
                plates=plates,
                evidence=evidence,
                node_id=node_id,
            )
            for c in cameras
        }
        self.stats = PipelineStats()

    def _timed(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.stats.seconds[stage] += now - started
        return now

    def process(self, frames: Sequence[FrameIn]) -> list[FrameResult]:
        t = time.perf_counter()
        self.stats.frames += len(frames)
        cams = [self.cameras[f.camera_id] for f in frames]
        wanted = [
            i
            for i, (f, c) in enumerate(zip(frames, cams, strict=True))
            if c.wants_detection(f.image, f.at)
        ]
        t = self._timed("gate", t)
        found: dict[int, sv.Detections] = {}
        if wanted and self.detector is not None:
            size = self.config.batch_size
            for start in range(0, len(wanted), size):
                chunk = wanted[start : start + size]
                dets = self.detector.detect([frames[i].image for i in chunk])
                self.stats.detector_calls += 1
                found.update(zip(chunk, dets, strict=True))
            self.stats.detected_frames += len(wanted)
            t = self._timed("detect", t)
        results = []
        for i, (f, c) in enumerate(zip(frames, cams, strict=True)):
            results.append(c.process(f.image, f.at, found.get(i)))
        self._timed("analytics", t)
        return results

    def flush(self) -> list[Sighting]:
        return [s for c in self.cameras.values() for s in c.flush()]
