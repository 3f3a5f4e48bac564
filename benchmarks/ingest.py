"""Ingest: cameras per core kept in real time, beside C and naive-Python anchors.

For 720p and 1080p 25 fps streams (GOP 50) from the simulated fleet, in three modes —
demux + health, keyframe sampling, full decode — measures in one run:
- sharpeye: `ingest.engine.IngestEngine` (shared reader threads, decode only what's asked);
- anchor "ffmpeg": one `ffmpeg -c copy` (or `-skip_frame nokey`, or full decode) process
  per camera, C only;
- anchor "pyav-threads": a bare thread-per-camera PyAV loop.
Cameras per core = cameras / (CPU seconds / wall seconds) over the window, valid when every
camera kept ≥ 90 % of its 25 fps (the "rt" column). The fleet's own CPU is not counted.

Run: `.venv/bin/python -m benchmarks.ingest` (≈ 8 min; `--quick` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, Figure, SimFleet, cpu_seconds, machine, today, write_results

FPS = 25
# Cameras per configuration, sized so no reader saturates this 2-core machine.
PLAN = {
    ("720p", "demux"): 100,
    ("720p", "keyframes"): 40,
    ("720p", "decode"): 6,
    ("1080p", "demux"): 100,
    ("1080p", "keyframes"): 30,
    ("1080p", "decode"): 3,
}
MODE_LABEL = {"demux": "demux + health", "keyframes": "keyframe sampling", "decode": "full decode"}


def run_probe(
    impl: str, urls: list[str], mode: str, warmup: float, duration: float
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(urls))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.ingest_probe",
            impl,
            "--mode",
            mode,
            "--urls",
            f.name,
            "--warmup",
            str(warmup),
            "--duration",
            str(duration),
        ],
        capture_output=True,
        text=True,
        timeout=warmup + duration + 120,
    )
    Path(f.name).unlink()
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{impl} probe failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def run_ffmpeg(urls: list[str], mode: str, warmup: float, duration: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ffmpeg-"))
    procs = []
    for i, url in enumerate(urls):
        cmd = [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-analyzeduration",
            "100000",
        ]
        if mode == "keyframes":
            cmd += ["-skip_frame", "nokey"]
        cmd += ["-i", url, "-map", "0:v"]
        cmd += ["-c", "copy"] if mode == "demux" else ["-pix_fmt", "bgr24"]
        cmd += ["-f", "null", "-", "-progress", str(tmp / f"{i}.txt"), "-stats_period", "1"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(warmup)
    pids = [p.pid for p in procs]

    def frames() -> list[int]:
        out = []
        for i in range(len(urls)):
            n = 0
            try:
                for line in (tmp / f"{i}.txt").read_text().splitlines():
                    if line.startswith("frame="):
                        n = int(line[6:])
            except (OSError, ValueError):
                pass
            out.append(n)
        return out

    f0, c0, t0 = frames(), cpu_seconds(pids), time.monotonic()
    time.sleep(duration)
    f1, c1, t1 = frames(), cpu_seconds(pids), time.monotonic()
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    got = [b - a for a, b in zip(f0, f1, strict=True)]
    # ffmpeg's progress counts frames written: with -skip_frame nokey only keyframes are,
    # so its real-time check uses the process being alive and on time instead.
    per = [g / (t1 - t0) for g in got]
    if mode == "keyframes":
        per = [FPS if g > 0 else 0.0 for g in got]
    return {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "min_fps": min(per),
        "mean_fps": sum(per) / len(per),
    }


def per_core(r: dict[str, float], n: int) -> float:
    cores = r["cpu_s"] / r["wall_s"]
    return n / cores if cores > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short windows, fewer cameras")
    a = ap.parse_args()
    warmup, duration = (6.0, 5.0) if a.quick else (8.0, 12.0)
    figures: list[Figure] = []
    rows = []
    for res in ("720p", "1080p"):
        clip = f"vtest-{res}"
        fleet = SimFleet(max(n for (r, _), n in PLAN.items() if r == res), clip)
        try:
            for (r, mode), n in PLAN.items():
                if r != res:
                    continue
                n = max(2, n // 4) if a.quick else n
                urls = fleet.urls()[:n]
                got = {
                    "sharpeye": run_probe("sharpeye", urls, mode, warmup, duration),
                    "pyav-threads": run_probe("pyav", urls, mode, warmup, duration),
                    "ffmpeg": run_ffmpeg(urls, mode, warmup, duration),
                }
                if got["sharpeye"]["mean_fps"] == 0 and got["ffmpeg"]["mean_fps"] == 0:
                    raise RuntimeError(f"no frames from the {clip} fleet: is it serving?")
                for impl, m in got.items():
                    row = {
                        "res": res,
                        "mode": mode,
                        "impl": impl,
                        "cameras": n,
                        "cams_per_core": per_core(m, n),
                        "rt": m["min_fps"] / FPS,
                        **m,
                    }
                    rows.append(row)
                    print(
                        f"{res:6} {mode:10} {impl:13} n={n:3} cams/core={row['cams_per_core']:7.0f}"
                        f" cpu={m['cpu_s'] / m['wall_s']:.2f} cores rt={row['rt']:.2f}",
                        flush=True,
                    )
                ours = got["sharpeye"]
                goal = {
                    "demux": "≥ 1.0× ffmpeg readers (≥ 600 cameras/core)",
                    "keyframes": "≥ 100 1080p cameras/core" if res == "1080p" else "—",
                    "decode": "—",
                }[mode]
                for anchor_name, anchor_label in (
                    ("ffmpeg", "one ffmpeg reader process per camera (C only)"),
                    ("pyav-threads", "bare thread-per-camera PyAV loop"),
                ):
                    figures.append(
                        Figure(
                            figure=f"cameras/core, {res}25 GOP 50, {MODE_LABEL[mode]} "
                            f"({n} cameras, real time kept {min(1.0, ours['min_fps'] / FPS):.0%})",
                            value=round(per_core(ours, n), 1),
                            unit="cameras/core",
                            anchor=f"{anchor_label}, real time kept "
                            f"{min(1.0, got[anchor_name]['min_fps'] / FPS):.0%}",
                            anchor_value=round(per_core(got[anchor_name], n), 1),
                            goal=goal,
                            machine=machine(),
                            date=today(),
                        )
                    )
        finally:
            fleet.stop()
    path = write_results("ingest", figures)
    (RESULTS / "ingest.rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows)
    print(f"wrote {path}")


def plot(rows: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    impls = ["sharpeye", "ffmpeg", "pyav-threads"]
    for ax, mode in zip(axes, ("demux", "keyframes", "decode"), strict=True):
        for j, impl in enumerate(impls):
            vals = [
                next(
                    (
                        float(r["cams_per_core"])  # type: ignore[arg-type]
                        for r in rows
                        if r["res"] == res and r["mode"] == mode and r["impl"] == impl
                    ),
                    0.0,
                )
                for res in ("720p", "1080p")
            ]
            ax.bar([k + j * 0.27 for k in range(2)], vals, width=0.27, label=impl)
        ax.set_xticks([0.27, 1.27], ["720p25", "1080p25"])
        ax.set_title(MODE_LABEL[mode])
        ax.set_ylabel("cameras per core")
        ax.legend()
    fig.suptitle("Ingest: cameras per CPU core (higher is better), same streams, same run")
    fig.tight_layout()
    fig.savefig(RESULTS / "ingest.png", dpi=100)


if __name__ == "__main__":
    main()
