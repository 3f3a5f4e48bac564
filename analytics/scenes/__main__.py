"""`python -m analytics.scenes`: write the demo scene clips into <data_dir>/footage.

    synthetic-fire-720p.mkv      tree.avi with procedural flames (fire-watch cameras)
    synthetic-smoke-720p.mkv     tree.avi with procedural smoke rising
    synthetic-junction-720p.mkv  vtest's square with photographed vehicles (opencv-doc's bus
                                 and estate car) carrying rendered plates
    synthetic-crowd-720p.mkv     people cut from vtest gathering on the empty square
    synthetic-faces-720p.mkv     ultralytics' zidane.jpg (real faces) with a slow pan

Each also as synthetic-<scene>-360p.mkv, the same frames scaled down: the sub stream a video
wall tile plays (the registry's `.../synthetic-<scene>-720p-360p/<camera>`), so a tile shows
its camera's own scene. H.264 constrained baseline (browsers' WebRTC decodes it), fixed GOP
50, SPS/PPS repeated (what the simulated fleet serves), 25 fps, a whole number of GOPs.
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
from analytics.scenes.plates import BUS, ESTATE, Vehicle, junction
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


SUB_SIZE = (640, 360)
SUB_KBPS = 600  # as the 360p footage clips: a wall of tiles stays light


def _x264(bitrate_kbps: int | None) -> list[str]:
    rate = (
        [
            "-b:v",
            f"{bitrate_kbps}k",
            "-maxrate",
            f"{bitrate_kbps}k",
            "-bufsize",
            f"{2 * bitrate_kbps}k",
        ]
        if bitrate_kbps
        else []
    )
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", *rate,
        "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0",
        "-x264-params", "repeat-headers=1", "-pix_fmt", "yuv420p",
    ]  # fmt: skip


def sub_path(out: Path) -> Path:
    """synthetic-fire-720p.mkv -> synthetic-fire-360p.mkv (the fleet maps sub paths to it)."""
    return out.with_name(out.name.replace("-720p.mkv", "-360p.mkv"))


def encode(frames: Iterator[Frame], out: Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """Encode the frames to `out` and, in the same pass, the 360p sub stream beside it."""
    tmp, sub = out.with_suffix(".tmp.mkv"), sub_path(out)
    sub_tmp = sub.with_suffix(".tmp.mkv")
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", f"{size[0]}x{size[1]}", "-r", "25", "-i", "-",
        *_x264(None), str(tmp),
        "-vf", f"scale={SUB_SIZE[0]}:{SUB_SIZE[1]}:flags=area", *_x264(SUB_KBPS), str(sub_tmp),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for f in frames:
        proc.stdin.write(np.ascontiguousarray(f).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {out}")
    sub_tmp.replace(sub)
    tmp.replace(out)  # last: the main clip's presence says both are complete (see Makefile)
    return out


# The junction's traffic, one vehicle at a time per lane so each keeps its own track: the
# estate car drives left, the bus right (a large vehicle: yellow plate), then the estate
# car mirrored drives right nearer the camera. All are off screen at the loop's seam.
JUNCTION_TRAFFIC = [
    Vehicle("皖S12345", ESTATE, ground=0.56, enter=0, speed=-0.007),
    Vehicle(
        "皖A58226", BUS, ground=0.70, enter=200, speed=0.0065, width=0.40, plate_style="yellow"
    ),
    Vehicle("粤B6K789", ESTATE, ground=0.92, enter=330, speed=0.008),
]


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
    out["synthetic-junction-720p"] = encode(
        junction(frames_of(clips["vtest-720p"], 500), JUNCTION_TRAFFIC, footage / "images"),
        footage / "synthetic-junction-720p.mkv",
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
