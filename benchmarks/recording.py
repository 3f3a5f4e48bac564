"""Recording: cameras recorded per core beside ffmpeg's segmenter, disk written per byte of
video, the alarm clip buffer's memory per camera, and playback start of a clip.

For 720p25 and 1080p25 streams (GOP 50) from the simulated fleet, in one run:
- cameras recorded per core: N cameras recorded by `benchmarks.recording_probe record`, our
  recorder path in one process as an ingest worker runs it (IngestEngine demuxes, the tee
  hands every access unit to a RecordingSink, the Recorder's writer thread remuxes them
  into fMP4 segments of SEGMENT_S and indexes each in SQLite); anchor: one
  `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment` process per camera on the same
  streams (same segment time, fMP4 with the recorder's movflags), their CPU summed.
  Cameras per core = cameras / (CPU seconds / wall seconds) over the window, the fleet's
  CPU not counted; "real time kept" is the slowest camera's frame rate over 25 fps;
- disk write vs stream bitrate: bytes of every segment file / bytes of the video they hold
  (each packet's size, demuxed back with PyAV), ours and ffmpeg's, whole runs; every
  segment's first picture is decoded and one segment per run decoded through to check they
  play;
- rolling buffer memory per camera: `recording_probe buffer` (cameras analysed, so each
  has its clip buffer, at SHARPEYE_CLIP_BUFFER_S/_MB's defaults) beside the same process
  without buffers, at the same time: the buffers' own byte counts per camera, and the RSS
  difference per camera; anchor: the stream's bitrate × the buffer's seconds;
- clip playback start p95: `benchmarks.recording_playback` (the real API, see there);
  anchor: the same clip as a plain MP4 opened from local disk with PyAV.

Run: `.venv/bin/python -m benchmarks.recording` (≈ 5 min; `--quick` for a smoke run), then
`.venv/bin/python -m benchmarks.summarize`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av

from benchmarks.common import RESULTS, Figure, SimFleet, cpu_seconds, machine, today, write_results
from benchmarks.recording_playback import first_picture
from benchmarks.recording_playback import measure as measure_playback
from camera.fmp4 import MOVFLAGS
from sharpeye.settings import Settings

FPS = 25
SEGMENT_S = 10.0  # short, so a window sees each camera cut (and index) segments a few times
# Cameras recorded per resolution: sized so neither side saturates this 2-core machine.
PLAN = {"720p": 16, "1080p": 12}
BUFFER_CAMERAS = 8
BUFFER_S = float(Settings.model_fields["clip_buffer_s"].default)
BUFFER_MB = float(Settings.model_fields["clip_buffer_mb"].default)


def _probe(args: list[str], urls: list[str]) -> subprocess.Popen[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(urls))
    cmd = [sys.executable, "-m", "benchmarks.recording_probe", *args, "--urls", f.name]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"probe {proc.args!r} failed:\n{err[-2000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def run_ours(urls: list[str], store: Path, warmup: float, duration: float) -> dict[str, Any]:
    args = ["record", "--store", str(store), "--segment-s", str(SEGMENT_S)]
    args += ["--warmup", str(warmup), "--duration", str(duration)]
    return _result(_probe(args, urls), warmup + duration + 120)


def run_ffmpeg(urls: list[str], out: Path, warmup: float, duration: float) -> dict[str, Any]:
    procs = []
    for i, url in enumerate(urls):
        folder = out / f"c{i:03d}"
        folder.mkdir(parents=True)
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp"]
        cmd += ["-analyzeduration", "100000", "-i", url, "-map", "0:v", "-c", "copy"]
        cmd += ["-f", "segment", "-segment_time", str(SEGMENT_S), "-reset_timestamps", "1"]
        cmd += ["-segment_format", "mp4", "-segment_format_options", f"movflags={MOVFLAGS}"]
        cmd += ["-progress", str(out / f"c{i:03d}.progress"), "-stats_period", "1"]
        cmd += [str(folder / "%05d.mp4")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(warmup)
    pids = [p.pid for p in procs]

    def frames() -> list[int]:
        got = []
        for i in range(len(urls)):
            n = 0
            try:
                for line in (out / f"c{i:03d}.progress").read_text().splitlines():
                    if line.startswith("frame="):
                        n = int(line[6:])
            except (OSError, ValueError):
                pass
            got.append(n)
        return got

    f0, c0, t0 = frames(), cpu_seconds(pids), time.monotonic()
    time.sleep(duration)
    f1, c1, t1 = frames(), cpu_seconds(pids), time.monotonic()
    for p in procs:
        p.send_signal(signal.SIGINT)  # as `q`: ffmpeg finishes the open segment and exits
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    per = [(b - a) / (t1 - t0) for a, b in zip(f0, f1, strict=True)]
    return {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "min_fps": min(per),
        "mean_fps": sum(per) / len(per),
    }


def segment_bytes(files: list[Path]) -> dict[str, Any]:
    """File bytes and the video bytes inside (packet sizes, demuxed back) of segments; each
    one's first picture is decoded, and the longest one decoded through."""
    if not files:
        raise RuntimeError("no segments written")
    on_disk = payload = frames = 0
    for path in files:
        on_disk += path.stat().st_size
        with av.open(str(path)) as c:
            sizes = [(p.size, p.is_keyframe) for p in c.demux(video=0) if p.size]
        if not sizes or not sizes[0][1]:
            raise RuntimeError(f"{path}: does not start with a keyframe")
        first_picture(str(path))
        payload += sum(size for size, _ in sizes)
        frames += len(sizes)
    longest = max(files, key=lambda p: p.stat().st_size)
    with av.open(str(longest)) as c:
        packets = sum(1 for p in c.demux(video=0) if p.size)
    with av.open(str(longest)) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    if decoded != packets:
        raise RuntimeError(f"{longest}: {decoded} of {packets} pictures decode")
    return {
        "files": len(files),
        "file_bytes": on_disk,
        "payload_bytes": payload,
        "frames": frames,
        "ratio": on_disk / payload,
        "decoded_through": decoded,
    }


def run_buffers(urls: list[str], warmup: float, clips: Path) -> dict[str, Any]:
    """The buffered process and its control (no buffers), side by side on the same streams."""
    common = ["--warmup", str(warmup), "--max-mb", str(BUFFER_MB)]
    filled = ["--seconds", str(BUFFER_S), "--clips", str(clips)]
    with_buffers = _probe(["buffer", *common, *filled], urls)
    control = _probe(["buffer", *common, "--seconds", "0"], urls)
    got = _result(with_buffers, warmup + 120)
    base = _result(control, warmup + 120)
    per_cam = [b / 1e6 for b in got["buffer_bytes"]]
    return {
        "accounted_mb": statistics.median(per_cam),
        "accounted_max_mb": max(per_cam),
        "rss_diff_mb": (got["rss_mb"] - base["rss_mb"]) / len(urls),
        "span_s": statistics.median(got["span_s"]),
        "clips": [str(clips / r) for r in got.get("clips", [])],
    }


def per_core(r: dict[str, Any], n: int) -> float:
    cores = float(r["cpu_s"]) / float(r["wall_s"])
    return n / cores if cores > 0 else float("inf")


def _row(
    work: Path,
    res: str,
    n: int,
    ours: dict[str, Any],
    ffmpeg: dict[str, Any],
    buffers: dict[str, Any],
) -> dict[str, Any]:
    """One resolution's results, the segments checked and counted; printed as it goes."""
    disk_ours = segment_bytes(sorted((work / f"ours-{res}").rglob("*.mp4")))
    disk_ff = segment_bytes(sorted((work / f"ffmpeg-{res}").rglob("*.mp4")))
    received = sum(ours["received_bytes"].values())
    # Video bytes per second of the stream, from what the segments hold.
    bitrate = disk_ours["payload_bytes"] / (disk_ours["frames"] / FPS)
    for name, r in (("sharpeye", ours), ("ffmpeg", ffmpeg)):
        print(
            f"{res:6} {name:8} n={n:3} cams/core={per_core(r, n):7.1f}"
            f" cpu={r['cpu_s'] / r['wall_s']:.3f} cores rt={r['min_fps'] / FPS:.2f}",
            flush=True,
        )
    print(
        f"{res:6} disk ours {disk_ours['ratio']:.4f}× ffmpeg {disk_ff['ratio']:.4f}×;"
        f" buffer {buffers['accounted_mb']:.2f} MB (RSS {buffers['rss_diff_mb']:.2f} MB,"
        f" anchor {bitrate * BUFFER_S / 1e6:.2f} MB)",
        flush=True,
    )
    return {
        "cameras": n,
        "ours": {**ours, "received_bytes": received, "cams_per_core": per_core(ours, n)},
        "ffmpeg": {**ffmpeg, "cams_per_core": per_core(ffmpeg, n)},
        "disk_ours": disk_ours,
        "disk_ffmpeg": disk_ff,
        "coverage": disk_ours["payload_bytes"] / received,  # of what was received, on disk
        "stream_mbit_s": bitrate * 8 / 1e6,
        "buffers": {**buffers, "anchor_mb": bitrate * BUFFER_S / 1e6},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short windows, 2 cameras, no results")
    ap.add_argument("--trials", type=int, default=40, help="playback starts per kind")
    ap.add_argument("--note", default="", help="kept in recording.rows.json (e.g. the load)")
    ap.add_argument("--work", type=Path, help="keep segments and clips here (default: a tmp)")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="bench-recording-"))
    if a.quick:
        run(work, 5.0, 8.0, 8, {r: 2 for r in PLAN}, 2, 8.0)
    else:
        figures, rows = run(work, 8.0, 30.0, a.trials, PLAN, BUFFER_CAMERAS, BUFFER_S)
        rows["note"] = a.note
        path = write_results("recording", figures)
        (RESULTS / "recording.rows.json").write_text(json.dumps(rows, indent=2) + "\n")
        plot(rows)
        print(f"wrote {path}")
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)


def run(
    work: Path,
    warmup: float,
    duration: float,
    trials: int,
    plan: dict[str, int],
    buffer_cameras: int,
    buffer_fill_s: float,
) -> tuple[list[Figure], dict[str, Any]]:
    """Every measurement (module docstring); `buffer_fill_s`: how long the buffers fill
    before they are measured (BUFFER_S for the figure; less only for a smoke run)."""
    figures: list[Figure] = []
    rows: dict[str, Any] = {"segment_s": SEGMENT_S, "buffer_s": BUFFER_S, "machine": machine()}
    rows["resolutions"] = list(plan)
    stores: list[Path] = []
    clips: list[Path] = []
    for res, n in plan.items():
        fleet = SimFleet(max(n, buffer_cameras), f"vtest-{res}")
        try:
            urls = fleet.urls()
            ours = run_ours(urls[:n], work / f"ours-{res}", warmup, duration)
            ffmpeg = run_ffmpeg(urls[:n], work / f"ffmpeg-{res}", warmup, duration)
            # Filled: its seconds, then a GOP more and the connection's start.
            clip_dir = work / f"clips-{res}"
            buffers = run_buffers(urls[:buffer_cameras], buffer_fill_s + 8.0, clip_dir)
        finally:
            fleet.stop()
        stores.append(work / f"ours-{res}")
        clips += [Path(c) for c in buffers["clips"]]
        rows[res] = row = _row(work, res, n, ours, ffmpeg, buffers)
        rows[res]["buffers"]["cameras"] = buffer_cameras
        rt, rt_ff = (min(1.0, r["min_fps"] / FPS) for r in (ours, ffmpeg))
        figures.append(
            Figure(
                figure=f"cameras recorded per core {res}25",
                value=round(row["ours"]["cams_per_core"], 1),
                unit="cameras/core",
                anchor=f"one `ffmpeg -c copy -f segment` per camera (fMP4, {SEGMENT_S:g} s "
                f"segments), same {n} streams; real time kept {rt:.0%} (ours) vs {rt_ff:.0%}",
                anchor_value=round(row["ffmpeg"]["cams_per_core"], 1),
                goal="≥ 1.0× ffmpeg",
                machine=machine(),
                date=today(),
            )
        )
    first = next(iter(plan))  # 720p: the 1080p buffer meets its byte cap before its seconds
    r720 = rows[first]
    figures.append(
        Figure(
            figure="disk write vs stream bitrate",
            value=round(r720["disk_ours"]["ratio"], 4),
            unit=f"× (segment bytes / video bytes, {first}25)",
            anchor="ffmpeg segmenter's segments, same streams",
            anchor_value=round(r720["disk_ffmpeg"]["ratio"], 4),
            goal="≤ 1.05×",
            machine=machine(),
            date=today(),
        )
    )
    b = r720["buffers"]
    figures.append(
        Figure(
            figure="rolling buffer memory per camera",
            value=round(b["accounted_mb"], 2),
            unit=f"MB ({first}25, {BUFFER_S:g} s buffer; RSS difference {b['rss_diff_mb']:.1f} MB)",
            anchor=f"stream bitrate ({r720['stream_mbit_s']:.2f} Mbit/s) × {BUFFER_S:g} s",
            anchor_value=round(b["anchor_mb"], 2),
            goal="—",
            machine=machine(),
            date=today(),
        )
    )
    play = measure_playback(work / "api", clips, stores, trials)
    rows["playback"] = play
    print(f"playback p95 {json.dumps(play['p95'])} p50 {json.dumps(play['p50'])}", flush=True)
    figures.append(
        Figure(
            figure="clip playback start p95",
            value=round(play["p95"]["clip"], 1),
            unit=f"ms (alarm clip via GET /api/evidence to its first picture; {trials} starts)",
            anchor="the same clip as a plain MP4 on local disk, PyAV to the first picture",
            anchor_value=round(play["p95"]["plain"], 1),
            goal="≤ 500 ms",
            machine=machine(),
            date=today(),
        )
    )
    return figures, rows


def plot(rows: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = list(rows["resolutions"])
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.5))
    for j, (impl, label) in enumerate((("ours", "sharpeye"), ("ffmpeg", "ffmpeg segment"))):
        x = [k + j * 0.38 for k in range(len(res))]
        ax[0].bar(x, [rows[r][impl]["cams_per_core"] for r in res], 0.38, label=label)
        ax[1].bar(x, [rows[r][f"disk_{impl}"]["ratio"] for r in res], 0.38, label=label)
    ax[0].set_title("cameras recorded per core (higher is better)")
    ax[1].set_title("disk bytes / video bytes (goal ≤ 1.05)")
    ax[1].set_ylim(0.95, 1.08)
    ax[1].axhline(1.05, color="red", linestyle=":")
    kinds = [("accounted_mb", "buffer's count"), ("rss_diff_mb", "RSS diff")]
    for k, (key, label) in enumerate([*kinds, ("anchor_mb", "bitrate × s")]):
        x = [i + k * 0.27 for i in range(len(res))]
        ax[2].bar(x, [rows[r]["buffers"][key] for r in res], 0.27, label=label)
    ax[2].set_title(f"clip buffer per camera, MB ({BUFFER_S:g} s, {BUFFER_MB:g} MB cap)")
    for a, w in ((ax[0], 0.38), (ax[1], 0.38), (ax[2], 0.54)):
        a.set_xticks([i + w / 2 for i in range(len(res))], [f"{r}25" for r in res])
        a.legend()
    ms = rows["playback"]["ms"]
    starts = {
        "clip": "clip\n(API)",
        "segment": "segment\n(API)",
        "local-fmp4": "fMP4\n(disk)",
        "plain": "plain MP4\n(disk)",
    }
    ax[3].boxplot([ms[k] for k in starts], whis=(5, 95))
    ax[3].set_xticks(range(1, len(starts) + 1), list(starts.values()))
    ax[3].axhline(500, color="red", linestyle=":")
    ax[3].set_yscale("log")
    ax[3].set_title("playback start, ms to first picture")
    fig.suptitle("Recording: same streams, same run")
    fig.tight_layout()
    fig.savefig(RESULTS / "recording.png", dpi=100)


if __name__ == "__main__":
    main()
