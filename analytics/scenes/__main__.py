"""`python -m analytics.scenes`: write the demo scene clips into <data_dir>/footage.

    synthetic-fire-720p.mkv      tree.avi with procedural flames (fire-watch cameras)
    synthetic-smoke-720p.mkv     tree.avi with procedural smoke rising
    synthetic-junction-720p.mkv  vtest's square with drawn vehicles carrying rendered plates
    synthetic-crowd-720p.mkv     people cut from vtest gathering on the empty square
    synthetic-faces-720p.mkv     ultralytics' zidane.jpg (real faces) with a slow pan

H.264, fixed GOP 50, SPS/PPS repeated (what the simulated fleet serves), 25 fps.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from analytics.scenes.crowd import gathering, load_annotations, person_cutouts
from analytics.scenes.flames import with_flames
from analytics.scenes.plates import Vehicle, junction
from analytics.scenes.smoke import with_smoke
from sharpeye.models.samples import pull_samples
from sharpeye.settings import get_settings
from sharpeye.simulate.footage import prepare

Frame = NDArray[np.uint8]
ANNOTATIONS = Path(__file__).resolve().parents[2] / "tests" / "data" / "vtest_people.json"


def frames_of(path: Path, limit: int) -> Iterator[Frame]:
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= limit:
                return
            yield np.asarray(f.to_ndarray(format="bgr24"), np.uint8)


def encode(frames: Iterator[Frame], out: Path, size: tuple[int, int] = (1280, 720)) -> Path:
    tmp = out.with_suffix(".tmp.mkv")
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", f"{size[0]}x{size[1]}", "-r", "25", "-i", "-", "-c:v", "libx264",
        "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0",
        "-x264-params", "repeat-headers=1", "-pix_fmt", "yuv420p", str(tmp),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for f in frames:
        proc.stdin.write(np.ascontiguousarray(f).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {out}")
    tmp.replace(out)
    return out


def write_scene_clips(data_dir: Path) -> dict[str, Path]:
    clips = prepare(data_dir)
    footage = data_dir / "footage"
    out = {}
    out["synthetic-fire-720p"] = encode(
        with_flames(frames_of(clips["tree-720p"], 500), centre=(0.45, 0.85)),
        footage / "synthetic-fire-720p.mkv",
    )
    out["synthetic-smoke-720p"] = encode(
        with_smoke(frames_of(clips["tree-720p"], 500)), footage / "synthetic-smoke-720p.mkv"
    )
    cars = [
        Vehicle("皖S12345", (170, 170, 175), (-0.1, 0.62), (0.006, 0.0)),
        Vehicle("皖AD12345", (40, 40, 40), (1.1, 0.42), (-0.005, 0.0)),
        Vehicle("粤B6K789", (60, 60, 150), (-0.4, 0.8), (0.007, 0.0)),
    ]
    out["synthetic-junction-720p"] = encode(
        junction(frames_of(clips["vtest-720p"], 500), cars), footage / "synthetic-junction-720p.mkv"
    )
    ann = load_annotations(ANNOTATIONS)
    src = {i: f for i, f in enumerate(frames_of(clips["vtest-720p"], max(ann) + 1)) if i in ann}
    sampled = [f for i, f in enumerate(frames_of(clips["vtest-720p"], 1900)) if i % 40 == 0]
    background = np.asarray(np.median(np.stack(sampled), axis=0), np.uint8)  # people vanish
    people = person_cutouts(src, ann)[:14]
    out["synthetic-crowd-720p"] = encode(
        gathering(background, people, frames=500, arrive_by=250),
        footage / "synthetic-crowd-720p.mkv",
    )
    zidane = np.asarray(cv2.imread(str(pull_samples(data_dir)["zidane.jpg"])), np.uint8)
    out["synthetic-faces-720p"] = encode(pan(zidane, 250), footage / "synthetic-faces-720p.mkv")
    return out


def pan(image: Frame, frames: int) -> Iterator[Frame]:
    """A slow zoom-and-pan over a photo (a camera watching people who barely move)."""
    h, w = image.shape[:2]
    for i in range(frames):
        a = i / max(1, frames - 1)
        zoom = 1.0 + 0.15 * a
        cw, ch = int(w / zoom), int(h / zoom)
        x, y = int((w - cw) * a), int((h - ch) * 0.5 * a)
        yield np.asarray(cv2.resize(image[y : y + ch, x : x + cw], (1280, 720)), np.uint8)


if __name__ == "__main__":
    for name, path in write_scene_clips(get_settings().data_dir).items():
        print(f"{name}: {path}")
