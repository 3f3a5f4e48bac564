"""Playback start of recorded video through the real API, for benchmarks/recording.py.

A real `sharpeye api` process (the demo registry and users, its own Redis and SQLite) serves
alarm clips and recorded segments the benchmark made from the simulated fleet, copied into
its evidence store as the forest lookout's (`clips/...`, `recordings/...`, the segments
indexed as the recorder indexes them). Each trial is what the wall does (js/alarms.js,
js/playback.js): log in once, then
- clip: GET /api/evidence/<clip> with the session's token (the whole file, as the wall's
  blob), open it with PyAV and decode until the first picture;
- segment: GET /api/cameras/<id>/recordings (the timeline) then the segment the same way;
- anchors: the same clip as a plain (non-fragmented, faststart) MP4 on local disk, and the
  clip's own fMP4 file on local disk, opened with PyAV to the first picture (no HTTP).
Kinds are interleaved trial by trial, so they share whatever load the machine has.
"""

from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import av
import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from benchmarks.alarms import login, start_api
from ingest.recording_index import RecordingIndex, Segment
from sharpeye.bus.embedded import EmbeddedRedis
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for
from sharpeye.store.models.recordings import RecordingRow

CAMERA = "forest-lookout-1"  # forestry's, in the demo registry
USER, PASSWORD = "forestry", "forestry-demo-pass"


def first_picture(source: str | io.BytesIO) -> None:
    """Open a file (a path, or bytes as fetched) and decode until its first picture."""
    with av.open(source, "r") as c:
        for _ in c.decode(video=0):
            return
    raise RuntimeError("no picture decoded")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _plain(src: Path, target: Path) -> Path:
    """The clip as a plain MP4 (one moov, at the front): what a generic export would be."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-map", "0:v"),
            *("-c", "copy", "-movflags", "+faststart", str(target)),
        ],
        check=True,
    )
    return target


def _segments(store: Path, camera: str) -> list[RecordingRow]:
    db = create_engine(f"sqlite:///{store / 'index.db'}")
    try:
        with Session(db) as s:
            return list(
                s.scalars(
                    select(RecordingRow)
                    .where(RecordingRow.camera_id == camera, RecordingRow.kind == "segment")
                    .order_by(RecordingRow.start_at)
                )
            )
    finally:
        db.dispose()


def _install(work: Path, clips: list[Path], stores: list[Path]) -> tuple[list[str], int]:
    """Copy clips and camera c000's segments from each record store into the API's evidence
    store as the lookout's, index the segments; returns (clip refs, segments)."""
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": work / "camera_registry.yaml", "SHARPEYE_DATA_DIR": work / "data"}
    )
    evidence = work / "data" / "evidence"
    day = time.strftime("%Y%m%d", time.gmtime())
    refs = []
    for i, clip in enumerate(clips):
        ref = f"clips/{CAMERA}/{day}/bench-{i:03d}.mp4"
        (evidence / ref).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, evidence / ref)
        refs.append(ref)
    db = create_engine_for(settings)
    index = RecordingIndex(lambda: db, "bench")
    n = 0
    for k, store in enumerate(stores):
        for row in _segments(store, "c000"):
            assert row.ref is not None
            ref = f"recordings/{CAMERA}/{day}/{k}-{Path(row.ref).name}"
            (evidence / ref).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(store / "evidence" / row.ref, evidence / ref)
            index.add_segment(
                Segment(CAMERA, row.start_at, row.end_at, ref, row.bytes, row.frames,
                        row.codec or "h264", row.width, row.height)
            )  # fmt: skip
            n += 1
    index.flush()
    db.dispose()
    return refs, n


def measure(work: Path, clips: list[Path], stores: list[Path], trials: int) -> dict[str, Any]:
    """Milliseconds to the first decoded picture, per kind (see the module's docstring)."""
    work.mkdir(parents=True, exist_ok=True)
    plain = [_plain(c, work / "plain" / f"{i:03d}.mp4") for i, c in enumerate(clips)]
    times: dict[str, list[float]] = {"clip": [], "segment": [], "local-fmp4": [], "plain": []}
    with EmbeddedRedis(work / "redis", write_url_file=False, persist=False) as redis:
        proc, base = start_api(work, redis.url)
        try:
            refs, n_segments = _install(work, clips, stores)
            headers = {"Authorization": f"Bearer {login(base, USER, PASSWORD)}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                window = {"start": time.time() - 3600, "end": time.time() + 60}
                timeline = f"/api/cameras/{CAMERA}/recordings"
                got = client.get(timeline, params=window)
                got.raise_for_status()
                if len(got.json()["segments"]) != n_segments:
                    raise RuntimeError(f"timeline lists {len(got.json()['segments'])} segments")
                for i in range(trials + 1):  # the first round warms every path up, not kept
                    clip = refs[i % len(refs)]
                    t0 = time.perf_counter()
                    r = client.get(f"/api/evidence/{clip}")
                    r.raise_for_status()
                    first_picture(io.BytesIO(r.content))
                    t1 = time.perf_counter()
                    r = client.get(timeline, params=window)
                    r.raise_for_status()
                    segments = r.json()["segments"]
                    r = client.get(f"/api/evidence/{segments[i % len(segments)]['ref']}")
                    r.raise_for_status()
                    first_picture(io.BytesIO(r.content))
                    t2 = time.perf_counter()
                    first_picture(str(plain[i % len(plain)]))
                    t3 = time.perf_counter()
                    first_picture(str(clips[i % len(clips)]))
                    t4 = time.perf_counter()
                    if i == 0:
                        continue
                    times["clip"].append((t1 - t0) * 1000)
                    times["segment"].append((t2 - t1) * 1000)
                    times["plain"].append((t3 - t2) * 1000)
                    times["local-fmp4"].append((t4 - t3) * 1000)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return {
        "ms": times,
        "p95": {k: p95(v) for k, v in times.items()},
        "p50": {k: statistics.median(v) for k, v in times.items()},
        "clip_mb": statistics.mean(c.stat().st_size for c in clips) / 1e6,
        "segments": n_segments,
    }
