"""Analytics quality figures: person precision/recall on annotated vtest frames, and false
fire/smoke/watchlist events on footage that has none (used by benchmarks/analytics.py)."""

from __future__ import annotations

import json
from pathlib import Path

from analytics.config import AnalyticsConfig, PlateSettings
from analytics.detectors import build_detector
from analytics.detectors.config import NanodetOnnxConfig
from analytics.pipeline import FrameIn, Pipeline
from benchmarks.analytics_frames import T0, camera, read_frames

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_people.json"


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def quality(data_dir: Path, score: float) -> dict[str, float]:
    ann = json.loads(DATA.read_text())
    idx = sorted(int(k) for k in ann["frames"])
    frames = read_frames(data_dir / "footage" / f"{ann['clip']}.mkv", idx)
    det = build_detector(NanodetOnnxConfig(score=score), data_dir)
    tp = fp = fn = 0
    for i, f in zip(idx, frames, strict=True):
        h, w = f.shape[:2]
        (d,) = det.detect([f])
        preds = [
            [x1 / w, y1 / h, x2 / w, y2 / h]
            for (x1, y1, x2, y2), n in zip(d.xyxy, d.data["class_name"], strict=True)
            if n == "person"
        ]
        gts = list(ann["frames"][str(i)])
        for p in preds:
            best = max(range(len(gts)), key=lambda j: iou(p, gts[j]), default=None)
            if best is not None and iou(p, gts[best]) >= 0.5:
                tp += 1
                gts.pop(best)
            else:
                fp += 1
        fn += len(gts)
    return {"precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn), "people": tp + fn}


def false_events(data_dir: Path) -> dict[str, float]:
    """Fire, plate-watchlist and face-watchlist events on footage with none of them."""
    config = AnalyticsConfig(
        evidence=False, plates=PlateSettings(watchlist=["皖S12345"], whole_frame=True)
    )
    seconds = 0.0
    events = 0
    for clip, n in (("vtest-360p", 1950), ("tree-360p", 700)):
        cam = camera(clip, "all")
        pipe = Pipeline([cam], config, data_dir)
        frames = read_frames(data_dir / "footage" / f"{clip}.mkv", list(range(0, n, 12)))
        for k, f in enumerate(frames):
            (r,) = pipe.process([FrameIn(clip, f, T0 + k * 0.48)])
            events += sum(
                e.event_type in ("fire", "smoke", "watchlist_plate", "watchlist_face")
                for e in r.events
            )
        seconds += n / 25
    return {"false_events": events, "hours": seconds / 3600}
