"""GPU analytics benchmark: batched detection on ONNX Runtime's CUDA and TensorRT providers,
in cameras at 5 fps, beside bare `session.run` on the same provider, batch and tensors.

    .venv/bin/pip install '.[gpu]'   # onnxruntime-gpu in place of onnxruntime, on a GPU node
    .venv/bin/python -m benchmarks.analytics_gpu [--seconds 15] [--batches 1,8,32,64]

Writes benchmarks/results/analytics_gpu.{json,rows.json,png}. Without a GPU provider it
says so, writes nothing and exits 0: the CPU figures are `benchmarks.analytics`'.

"Pipeline" is the detector plug-in as the ingest worker calls it (`detect(batch)`:
letterbox and normalise on the CPU, one batched run, decode and NMS on the CPU); the anchor
is `session.run` alone on tensors prepared in advance. Cameras at 5 fps = frames/s ÷ 5,
with the motion gate off (every sampled frame detected: the busy-scene worst case).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analytics.detectors import build_detector
from analytics.detectors.config import NanodetOnnxConfig
from analytics.detectors.nanodet_onnx import NanodetOnnx
from analytics.detectors.runtime import available_providers
from benchmarks.analytics_frames import Frame, read_frames
from benchmarks.common import RESULTS, Figure, machine, today, write_results
from sharpeye.models.provision import pull
from sharpeye.settings import get_settings
from sharpeye.simulate.footage import prepare

GPU_PROVIDERS = ("cuda", "tensorrt")
FPS_PER_CAMERA = 5
GOAL = "≥ 1,000 cameras at 5 fps per H100"


def gpu_name() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown GPU"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown GPU"


def frames_per_s(fn: Callable[[], object], per_call: int, seconds: float) -> float:
    """Frames/s of `fn` (which handles `per_call` frames) over about `seconds`."""
    for _ in range(3):  # warm-up: TensorRT builds its engine for this shape on the first run
        fn()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    return calls * per_call / (time.perf_counter() - t0)


def measure(
    data_dir: Path, frames: list[Frame], provider: str, batch: int, seconds: float
) -> dict[str, float]:
    det = build_detector(NanodetOnnxConfig(provider=provider), data_dir)
    assert isinstance(det, NanodetOnnx)
    chunk = (frames * (batch // len(frames) + 1))[:batch]
    tensor = det.preprocess(chunk)

    def bare() -> None:
        det.session.run(None, {det.input_name: tensor})

    # A sanity check on the provider's output: vtest's first frame has people in it.
    people = int(np.sum(det.detect(chunk)[0].data["class_name"] == "person"))
    return {
        "bare_fps": frames_per_s(bare, batch, seconds),
        "pipeline_fps": frames_per_s(lambda: det.detect(chunk), batch, seconds),
        "people_in_first_frame": float(people),
    }


def figures(rows: dict[str, dict[str, dict[str, float]]], where: str) -> list[Figure]:
    out = []
    for provider, by_batch in rows.items():
        for batch, r in by_batch.items():
            out.append(
                Figure(
                    figure=f"cameras at 5 fps on one GPU, {provider}, batch {batch} "
                    "(NanoDet 416², detector plug-in)",
                    value=round(r["pipeline_fps"] / FPS_PER_CAMERA, 1),
                    unit="cameras",
                    anchor=f"bare session.run on {provider}, same batch and tensors",
                    anchor_value=round(r["bare_fps"] / FPS_PER_CAMERA, 1),
                    goal=GOAL,
                    machine=where,
                    date=today(),
                )
            )
    return out


def plot(rows: dict[str, dict[str, dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for provider, by_batch in rows.items():
        batches = list(by_batch)
        ax.plot(
            batches,
            [by_batch[b]["pipeline_fps"] / FPS_PER_CAMERA for b in batches],
            "o-",
            label=f"{provider}: detector plug-in",
        )
        ax.plot(
            batches,
            [by_batch[b]["bare_fps"] / FPS_PER_CAMERA for b in batches],
            "x--",
            label=f"{provider}: bare session.run",
        )
    ax.axhline(1000, color="grey", linestyle=":", label="goal: 1,000 cameras")
    ax.set_xlabel("batch")
    ax.set_ylabel("cameras at 5 fps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "analytics_gpu.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="Per measurement.")
    parser.add_argument("--batches", default="1,8,32,64", help="Comma-separated batch sizes.")
    parser.add_argument(
        "--providers",
        default=",".join(GPU_PROVIDERS),
        help="Comma-separated ONNX Runtime providers ('cpu' checks this script anywhere).",
    )
    args = parser.parse_args()
    asked = args.providers.split(",")
    providers = [p for p in asked if p in available_providers()]
    if not providers:
        print(
            f"none of {asked} in this onnxruntime (available: "
            f"{available_providers()}): nothing measured. On a GPU node: "
            "pip install '.[gpu]', then run this again."
        )
        return
    data_dir = get_settings().data_dir
    prepare(data_dir)
    pull(data_dir, ["nanodet-coco"])
    frames = read_frames(data_dir / "footage" / "vtest-720p.mkv", list(range(0, 640, 10)))
    batches = [int(b) for b in args.batches.split(",")]
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for provider in providers:
        rows[provider] = {}
        for batch in batches:
            rows[provider][str(batch)] = r = measure(
                data_dir, frames, provider, batch, args.seconds
            )
            print(f"{provider} batch {batch}: {json.dumps(r)}", flush=True)
    where = f"{machine()}, {gpu_name()}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analytics_gpu.rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(write_results("analytics_gpu", figures(rows, where)))
    plot(rows)


if __name__ == "__main__":
    main()
