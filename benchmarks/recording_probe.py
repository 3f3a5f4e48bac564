"""One measured Sharpeye process, run on its own by benchmarks/recording.py (so its CPU and
memory are its own, as an ingest worker's are).

`record`: `ingest.engine.IngestEngine` with a `ingest.recorder.Recorder` (the path a worker
records with: reader demux → tee → RecordingSink → writer thread → fMP4 segments, indexed
in SQLite), every camera demux-only. Prints CPU seconds and frames per camera over the
measured window, and the bytes each camera's sink was handed.

`buffer`: the engine with each camera's alarm clip buffer (`camera.clip_buffer`, sized as a
worker sizes it from SHARPEYE_CLIP_BUFFER_S/_MB; `--seconds 0`: none, the control process),
cameras sampling keyframes as analysed cameras do (buffers exist only for those). Prints
each buffer's own byte count and the process's RSS once the buffers are full; with
`--clips`, then cuts one alarm clip per camera through `ingest.clips.ClipRecorder` (for the
playback measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

from sqlalchemy import create_engine

from benchmarks.common import rss_mb
from camera.spec import RecordPlan, StreamSpec
from ingest.clips import ClipRecorder
from ingest.engine import IngestEngine
from ingest.recorder import Recorder
from ingest.recording_index import RecordingIndex
from sharpeye.contracts.events import Event
from sharpeye.registry.alarm_rules import RuleSpec
from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.recordings import RecordingRow


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _frames(engine: IngestEngine) -> dict[str, int]:
    return {k: h.frames_total for k, h in engine.health().items()}


def run_record(
    urls: list[str], store: Path, segment_s: float, warmup: float, duration: float
) -> dict[str, object]:
    store.mkdir(parents=True, exist_ok=True)
    db = create_engine(f"sqlite:///{store / 'index.db'}")
    tables = [RecordingRow.__table__, EvidenceLockRow.__table__]
    RecordingRow.metadata.create_all(db, tables=tables)  # type: ignore[arg-type]
    # Retention never runs in the window: it is not what is measured, and nothing is old.
    recorder = Recorder(store / "evidence", RecordingIndex(lambda: db, "bench"), 16_000_000, 3600)
    recorder.start()
    engine = IngestEngine(node_id="bench", connect_workers=32, recorder=recorder)
    engine.start()
    plan = RecordPlan(segment_s=segment_s, retain_days=1.0)
    for i, url in enumerate(urls):
        engine.add(StreamSpec(f"c{i:03d}", url, sampling="off", recording=plan))
    time.sleep(warmup)
    f0, c0, t0 = _frames(engine), _cpu(), time.monotonic()
    time.sleep(duration)
    f1, c1, t1 = _frames(engine), _cpu(), time.monotonic()
    rss = rss_mb(os.getpid())
    sinks = {cid: s.recorder for cid, s in engine._sessions.items()}
    engine.stop()
    recorder.stop()  # closes and indexes every open segment
    frames = [f1[k] - f0.get(k, 0) for k in f1]
    db.dispose()
    return {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "min_fps": min(frames) / (t1 - t0),
        "mean_fps": sum(frames) / len(frames) / (t1 - t0),
        "rss_mb": rss,
        "received_bytes": {k: s.queued_bytes for k, s in sinks.items() if s is not None},
        "dropped": sum(s.dropped for s in sinks.values() if s is not None),
        "failures": recorder.failures,
        "segments": recorder.segments_written,
    }


def _fire_rule(before: float, after: float) -> RuleSpec:
    return RuleSpec.model_validate(
        {
            "id": "bench",
            "name": "bench fire",
            "event_types": ["fire"],
            "departments": ["forestry"],
            "clip_before_s": before,
            "clip_after_s": after,
        }
    )


def run_buffer(
    urls: list[str], seconds: float, max_mb: float, warmup: float, clips: Path | None
) -> dict[str, object]:
    engine = IngestEngine(
        node_id="bench",
        connect_workers=32,
        clip_seconds=seconds,
        clip_max_bytes=int(max_mb * 1_000_000),
        diagnose_every_s=3600,  # no picture diagnosis in the window: not what is measured
    )
    engine.start()
    for i, url in enumerate(urls):
        engine.add(StreamSpec(f"c{i:03d}", url, sampling="keyframes"))
    time.sleep(warmup)
    # RSS moves with every GOP dropped and added: the median of a few samples.
    samples, held = [], []
    for _ in range(5):
        samples.append(rss_mb(os.getpid()))
        held.append([s.clips.nbytes for s in engine._sessions.values() if s.clips is not None])
        time.sleep(1.0)
    spans = [
        (sp[1] - sp[0])
        for s in engine._sessions.values()
        if s.clips is not None and (sp := s.clips.span()) is not None
    ]
    out: dict[str, object] = {
        "rss_mb": statistics.median(samples),
        "buffer_bytes": [statistics.median(col) for col in zip(*held, strict=True)],
        "span_s": spans,
        "frames": _frames(engine),
    }
    if clips is not None and seconds > 0:
        out["clips"] = _cut_clips(engine, clips)
    engine.stop()
    return out


def _cut_clips(engine: IngestEngine, root: Path) -> list[str]:
    """One alarm clip per camera, 10 s before to 10 s after (the rule defaults), through the
    worker's ClipRecorder; the event is 11 s old, so its window has arrived and it is cut now."""
    rule = _fire_rule(10.0, 10.0)
    recorder = ClipRecorder(engine.clip, root, rules=lambda: [rule])
    now = time.time()
    refs = []
    for cid in engine.camera_ids:
        event = Event.model_validate(
            {"event_type": "fire", "camera_id": cid, "occurred_at": now - 11.0}
        )
        refs += [e.ref for e in recorder.attach(event).evidence if e.kind == "clip"]
    deadline = time.monotonic() + 30  # hang guard only
    while recorder.written + recorder.failed < len(refs) and time.monotonic() < deadline:
        time.sleep(0.1)
    recorder.stop()
    return [r for r in refs if (root / r).exists()]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["record", "buffer"])
    p.add_argument("--urls", required=True, help="file with one URL per line")
    p.add_argument("--store", type=Path, help="record: where segments and the index go")
    p.add_argument("--segment-s", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=8)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--seconds", type=float, default=24.0, help="buffer: clip buffer seconds")
    p.add_argument("--max-mb", type=float, default=8.0, help="buffer: clip buffer MB bound")
    p.add_argument("--clips", type=Path, help="buffer: cut one alarm clip per camera here")
    a = p.parse_args()
    urls = [u.strip() for u in Path(a.urls).read_text().splitlines() if u.strip()]
    if a.mode == "record":
        assert a.store is not None, "record needs --store"
        out = run_record(urls, a.store, a.segment_s, a.warmup, a.duration)
    else:
        out = run_buffer(urls, a.seconds, a.max_mb, a.warmup, a.clips)
    print(json.dumps(out), flush=True)
    os._exit(0)  # reader threads blocked in reads would otherwise hold the exit


if __name__ == "__main__":
    main()
