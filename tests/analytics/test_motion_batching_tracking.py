"""Motion gate, dynamic batcher and tracker on small crafted inputs."""

from __future__ import annotations

import threading

import numpy as np
import supervision as sv

from analytics.batching import DynamicBatcher
from analytics.motion import MotionGate
from analytics.tracking import ByteTracker


def _noisy(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.integers(-3, 4, scene.shape)
    return np.clip(scene.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def test_static_frames_skip_the_detector_except_the_heartbeat() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    gate = MotionGate(heartbeat_s=10.0)
    passed = [i for i in range(40) if gate.check(_noisy(scene, rng), i * 0.5)]
    assert passed == [0, 20]  # the first look, then the 10 s heartbeat; noise never


def test_motion_and_live_tracks_pass_the_gate() -> None:
    rng = np.random.default_rng(1)
    scene = np.full((360, 640, 3), 90, np.uint8)
    gate = MotionGate()
    gate.check(scene, 0.0)
    assert not gate.check(_noisy(scene, rng), 0.5)
    moved = scene.copy()
    moved[100:200, 300:360] = 230  # someone walks in: ~2.6 % of the frame
    assert gate.check(moved, 1.0)
    assert gate.stats.frames == 3 and gate.stats.skipped == 1


def test_batcher_fills_to_max_and_keeps_the_latest_per_camera() -> None:
    b: DynamicBatcher[int] = DynamicBatcher(max_batch=3, max_wait_s=60.0)
    b.put("a", 1)
    b.put("a", 2)  # replaces: live video wants the newest frame
    b.put("b", 3)
    b.put("c", 4)
    assert [(p.key, p.item) for p in b.get(timeout=1)] == [("a", 2), ("b", 3), ("c", 4)]
    assert b.replaced == 1


def test_batcher_flushes_a_partial_batch_at_the_deadline() -> None:
    b: DynamicBatcher[int] = DynamicBatcher(max_batch=8, max_wait_s=0.01)
    b.put("a", 1)
    assert [p.item for p in b.get(timeout=5)] == [1]
    assert b.get(timeout=0.01) == []


def test_batcher_wakes_a_waiting_consumer_and_closes() -> None:
    b: DynamicBatcher[int] = DynamicBatcher(max_batch=2, max_wait_s=60.0)
    got: list[list[int]] = []
    t = threading.Thread(target=lambda: got.append([p.item for p in b.get()]))
    t.start()
    b.put("a", 1)
    b.put("b", 2)
    t.join(timeout=30)
    assert got == [[1, 2]]
    b.close()
    assert b.get() == []


def _dets(boxes: list[list[float]], scores: list[float]) -> sv.Detections:
    d = sv.Detections(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        confidence=np.array(scores, np.float32),
        class_id=np.zeros(len(boxes), int),
    )
    d.data["class_name"] = np.array(["person"] * len(boxes))
    return d


def test_tracker_keeps_ids_and_survives_a_weak_look() -> None:
    tr = ByteTracker(min_hits=2)
    ids = []
    for k in range(6):
        score = 0.3 if k == 3 else 0.9  # partly occluded on the fourth look
        out = tr.update(
            _dets([[10 + 8 * k, 10, 50 + 8 * k, 90], [300, 50, 340, 150]], [score, 0.9]), k * 0.5
        )
        ids.append(list(out.tracker_id))
    assert ids[0] == [-1, -1]  # born, not yet confirmed
    assert all(i == [1, 2] for i in ids[1:])


def test_held_tracks_survive_while_the_detector_rests() -> None:
    tr = ByteTracker(lost_after_s=2.0, min_hits=1)
    tr.update(_dets([[0, 0, 10, 10]], [0.9]), 0.0)
    for t in range(1, 30):
        tr.hold(float(t))  # the motion gate skipped these looks
    assert list(tr.update(_dets([[0, 0, 10, 10]], [0.9]), 30.0).tracker_id) == [1]


def test_tracker_drops_tracks_after_the_lost_time() -> None:
    tr = ByteTracker(lost_after_s=2.0, min_hits=1)
    tr.update(_dets([[0, 0, 10, 10]], [0.9]), 0.0)
    tr.update(_dets([], []), 1.0)
    assert tr.live_ids() == {1}
    tr.update(_dets([], []), 3.5)
    assert tr.live_ids() == set()
