"""One measured reader, run in its own process by benchmarks/ingest.py.

`sharpeye`: our IngestEngine. `pyav`: the naive anchor, one thread per camera looping over
`av.open(url).demux()` (decoding keyframes or everything when the mode asks).
Prints one JSON line: CPU seconds and frames per camera over the measured window.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time

import av

from camera.spec import SamplingMode, StreamSpec
from ingest.engine import IngestEngine


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_sharpeye(urls: list[str], mode: str, warmup: float, duration: float) -> dict[str, float]:
    sampling: SamplingMode = {"demux": "off", "keyframes": "keyframes", "decode": "fps"}[mode]  # type: ignore[assignment]
    engine = IngestEngine(node_id="bench", connect_workers=32)
    engine.start()
    for i, url in enumerate(urls):
        engine.add(
            StreamSpec(f"c{i}", url, sampling=sampling, fps=25 if mode == "decode" else None)
        )
    got = measure_engine(engine, warmup, duration)
    engine.stop()
    return got


def measure_engine(engine: IngestEngine, warmup: float, duration: float) -> dict[str, float]:
    """The engine's cameras over one window after `warmup`: this process's CPU seconds,
    the window's length, the slowest and mean camera's frame rate, pictures decoded and
    cameras online (also what `benchmarks.gb28181_probe` measures, for PS cameras)."""
    time.sleep(warmup)
    f0 = {k: h.frames_total for k, h in engine.health().items()}
    c0, t0 = _cpu(), time.monotonic()
    time.sleep(duration)
    c1, t1 = _cpu(), time.monotonic()
    hs = engine.health()
    frames = [hs[k].frames_total - f0[k] for k in f0]
    return {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "min_fps": min(frames) / (t1 - t0),
        "mean_fps": sum(frames) / len(frames) / (t1 - t0),
        "decoded": sum(h.frames_decoded for h in hs.values()),
        "online": sum(1 for h in hs.values() if h.state == "online"),
    }


def run_pyav(urls: list[str], mode: str, warmup: float, duration: float) -> dict[str, float]:
    counts = [0] * len(urls)
    stop = threading.Event()

    def loop(i: int, url: str) -> None:
        opts = {"rtsp_transport": "tcp", "analyzeduration": "100000"}
        with av.open(url, options=opts, timeout=10) as c:
            stream = c.streams.video[0]
            if mode == "keyframes":
                stream.codec_context.skip_frame = "NONKEY"
            for packet in c.demux(stream):
                if stop.is_set():
                    return
                if packet.size == 0:
                    continue
                counts[i] += 1
                if (mode == "keyframes" and packet.is_keyframe) or mode == "decode":
                    for frame in packet.decode():
                        frame.to_ndarray(format="bgr24") if mode == "decode" else None

    threads = [threading.Thread(target=loop, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    f0 = list(counts)
    c0, t0 = _cpu(), time.monotonic()
    time.sleep(duration)
    c1, t1 = _cpu(), time.monotonic()
    frames = [b - a for a, b in zip(f0, counts, strict=True)]
    stop.set()
    return {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "min_fps": min(frames) / (t1 - t0),
        "mean_fps": sum(frames) / len(frames) / (t1 - t0),
        "decoded": 0,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("impl", choices=["sharpeye", "pyav"])
    p.add_argument("--mode", choices=["demux", "keyframes", "decode"], required=True)
    p.add_argument("--urls", required=True, help="file with one URL per line")
    p.add_argument("--warmup", type=float, default=8)
    p.add_argument("--duration", type=float, default=10)
    a = p.parse_args()
    with open(a.urls) as f:
        urls = [u.strip() for u in f if u.strip()]
    fn = run_sharpeye if a.impl == "sharpeye" else run_pyav
    print(json.dumps(fn(urls, a.mode, a.warmup, a.duration)), flush=True)
    os._exit(0)  # PyAV threads blocked in reads would otherwise hold the exit


if __name__ == "__main__":
    main()
