"""Object detectors behind one interface (`Detector.detect(frames) -> list[Detections]`).

Plug-ins are chosen by `type` in `DetectorConfig` and imported on demand, so a node without
ultralytics (or without a GPU) only fails if its config asks for that plug-in.
"""

from analytics.detectors.base import Detector, DetectorError
from analytics.detectors.config import DetectorConfig, build_detector

__all__ = ["Detector", "DetectorConfig", "DetectorError", "build_detector"]
