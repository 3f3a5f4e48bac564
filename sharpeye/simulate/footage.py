"""Real footage for the simulated fleet: Debian's opencv-doc samples, re-encoded for serving.

Every clip is H.264 constrained baseline (browsers' WebRTC decodes it), 25 fps, a fixed GOP of
50 with no B-frames and SPS/PPS repeated in-band before every keyframe, so a reader that joins a
looping stream mid-way can start at the next keyframe. Each clip lasts a whole number of GOPs so
that looping keeps the keyframe cadence exact. `corrupt-720p` is `vtest-720p` with damaged NAL
units, to exercise decoders' error paths against a stream that is still served.
"""

from __future__ import annotations

import fcntl
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FPS = 25
GOP = 50
OPENCV_DOC = Path("usr/share/doc/opencv-doc")
SOURCE_VIDEOS = {
    "vtest": OPENCV_DOC / "examples/data/vtest.avi",
    "tree": OPENCV_DOC / "examples/data/tree.avi",
    "megamind": OPENCV_DOC / "examples/data/Megamind.avi",
    # A still photo streamed as video: a camera whose encoder repeats one picture (frozen).
    "still": OPENCV_DOC / "examples/data/messi5.jpg",
}
IMAGES = (
    OPENCV_DOC / "examples/data/messi5.jpg",
    OPENCV_DOC / "opencv4/html/black_car.jpg",
    OPENCV_DOC / "opencv4/html/white_car.jpg",
    # Real street photos with cars (black_car/white_car are motion-blur close-ups that no
    # detector calls a car): a parked estate car (text-module sample) and a London bus
    # with cars beside it (dnn tutorial).
    OPENCV_DOC / "examples/text/scenetext01.jpg",
    OPENCV_DOC / "opencv4/html/pexels_double_decker_bus.jpg",
)
CORRUPT_SEED = 20240601


@dataclass(frozen=True)
class ClipSpec:
    source: str  # key of SOURCE_VIDEOS, or another clip's name for derived clips
    width: int
    height: int
    kbps: int
    frames: int  # a multiple of GOP, at most the source's length at 25 fps


CLIPS: dict[str, ClipSpec] = {
    # Lengths: vtest.avi 79.5 s at 10 fps -> 78 s (39 GOPs); tree.avi 29.6 s -> 28 s;
    # Megamind.avi 11.3 s -> 10 s.
    "vtest-720p": ClipSpec("vtest", 1280, 720, 2000, 1950),
    "vtest-1080p": ClipSpec("vtest", 1920, 1080, 4000, 1950),
    "vtest-360p": ClipSpec("vtest", 640, 360, 600, 1950),
    "tree-720p": ClipSpec("tree", 1280, 720, 1500, 700),
    "tree-360p": ClipSpec("tree", 640, 360, 500, 700),
    "megamind-720p": ClipSpec("megamind", 1280, 720, 2000, 250),
    "corrupt-720p": ClipSpec("vtest-720p", 1280, 720, 2000, 1950),
    "frozen-720p": ClipSpec("still", 1280, 720, 1000, 250),
}


class FootageError(RuntimeError):
    """Preparing footage failed; the message says what to do next."""


def clip_path(data_dir: Path, name: str) -> Path:
    return data_dir / "footage" / f"{name}.mkv"


def clip_paths(data_dir: Path) -> dict[str, Path]:
    return {name: clip_path(data_dir, name) for name in CLIPS}


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise FootageError(
            f"{what}: {cmd[0]} not found: run `make system` (scripts/install-system.sh)"
        ) from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise FootageError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _fetch_sources(data_dir: Path) -> Path:
    """Return a root under which SOURCE_VIDEOS and IMAGES exist, downloading the .deb if needed."""
    if all((Path("/") / p).exists() for p in (*SOURCE_VIDEOS.values(), *IMAGES)):
        return Path("/")  # opencv-doc is installed on this machine
    root = data_dir / "cache" / "opencv-doc"
    if all((root / p).exists() for p in (*SOURCE_VIDEOS.values(), *IMAGES)):
        return root
    cache = data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob("opencv-doc_*.deb"))
    if not debs:
        print("== fetching opencv-doc (Debian package, ~96 MB)", flush=True)
        proc = subprocess.run(
            ["apt-get", "download", "opencv-doc"], cwd=cache, capture_output=True, text=True
        )
        debs = sorted(cache.glob("opencv-doc_*.deb"))
        if proc.returncode != 0 or not debs:
            raise FootageError(
                "apt-get download opencv-doc failed: run `apt-get update` (as root) and retry, "
                "or install it with `apt-get install opencv-doc`.\n" + proc.stderr.strip()
            )
    print(f"== extracting {debs[-1].name}", flush=True)
    # dpkg -x would unpack the whole 300 MB of docs; tar pulls only the members we use.
    tmp = Path(tempfile.mkdtemp(prefix="opencv-doc.", dir=cache))
    try:
        # Each member once: tar reports a member named twice as "not found" the second time.
        members = sorted({f"./{p}" for p in (*SOURCE_VIDEOS.values(), *IMAGES)})
        deb = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(debs[-1])], stdout=subprocess.PIPE
        )
        tar = subprocess.run(["tar", "-x", "-C", str(tmp), *members], stdin=deb.stdout, check=False)
        if deb.stdout is not None:
            deb.stdout.close()
        if deb.wait() != 0 or tar.returncode != 0:
            raise FootageError(
                f"extracting {debs[-1]} failed: delete it and rerun `sharpeye footage prepare`"
            )
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _encode(src: Path, out: Path, spec: ClipSpec) -> None:
    w, h = spec.width, spec.height
    # Letterbox rather than stretch: analytics should see true proportions.
    vf = (
        # setpts: some sources (Megamind.avi) start late; loops must join seamlessly.
        f"setpts=PTS-STARTPTS,scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={FPS}"
    )
    tmp = out.with_name(out.name + ".part")
    _run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            *(["-loop", "1"] if src.suffix == ".jpg" else []),
            "-i", str(src), "-vf", vf, "-frames:v", str(spec.frames), "-an",
            "-c:v", "libx264", "-preset", "veryfast",
            "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0",
            "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
            "-b:v", f"{spec.kbps}k", "-maxrate", f"{spec.kbps}k", "-bufsize", f"{2 * spec.kbps}k",
            "-x264-params", "repeat-headers=1", "-r", str(FPS),
            "-f", "matroska", str(tmp),
        ],
        f"encoding {out.name}",
    )  # fmt: skip
    tmp.replace(out)


def _split_nals(stream: bytes) -> list[bytes]:
    """Split an Annex-B stream into NAL units (without start codes)."""
    starts: list[int] = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = stream.find(b"\x00\x00\x01", i + 3)
    nals = []
    for n, s in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(stream)
        nals.append(stream[s:end].rstrip(b"\x00"))
    return nals


def corrupt_annexb(stream: bytes, seed: int = CORRUPT_SEED, skip_frames: int = GOP) -> bytes:
    """Damage slice NAL units deterministically, leaving SPS/PPS and the first GOP intact.

    Replacement bytes are >= 4 so no start code (00 00 0x) can be created and the frame count
    is preserved; slice headers' first bytes are kept so parsers still find frame boundaries.
    """
    rng = random.Random(seed)
    out = bytearray()
    frames = 0
    for nal in _split_nals(stream):
        kind = nal[0] & 0x1F if nal else 0
        if kind in (1, 5):
            frames += 1
            if frames > skip_frames and len(nal) > 16:
                roll = rng.random()
                if roll < 0.05:  # overwrite a few payload bytes
                    buf = bytearray(nal)
                    for _ in range(rng.randint(1, 16)):
                        buf[rng.randrange(8, len(buf))] = rng.randint(4, 255)
                    nal = bytes(buf)
                elif roll < 0.07:  # truncate: the tail of the packet is lost
                    nal = nal[: rng.randint(8, max(9, len(nal) // 2))]
        out += b"\x00\x00\x00\x01" + nal
    return bytes(out)


def _make_corrupt(clean: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="corrupt.", dir=out.parent) as tmpdir:
        es = Path(tmpdir) / "clean.h264"
        bad = Path(tmpdir) / "bad.h264"
        _run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(clean),
             "-c:v", "copy", "-f", "h264", str(es)],
            "extracting the vtest-720p bitstream",
        )  # fmt: skip
        bad.write_bytes(corrupt_annexb(es.read_bytes()))
        tmp = out.with_name(out.name + ".part")
        _run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-fflags", "+genpts", "-r", str(FPS), "-f", "h264", "-i", str(bad),
             "-c:v", "copy", "-f", "matroska", str(tmp)],
            f"muxing {out.name}",
        )  # fmt: skip
        tmp.replace(out)


def _copy_images(root: Path, data_dir: Path) -> None:
    dest = data_dir / "footage" / "images"
    dest.mkdir(parents=True, exist_ok=True)
    for img in IMAGES:
        target = dest / img.name
        if not target.exists():
            shutil.copyfile(root / img, target)


def _missing(paths: dict[str, Path], images: Path, force: bool) -> list[str]:
    todo = [n for n, p in paths.items() if force or not p.exists()]
    if not todo and not all((images / i.name).exists() for i in IMAGES):
        return ["images"]
    return todo


def prepare(data_dir: Path, force: bool = False) -> dict[str, Path]:
    """Make every clip of CLIPS under data_dir/footage (idempotent) and return name -> path."""
    paths = clip_paths(data_dir)
    images = data_dir / "footage" / "images"
    if not _missing(paths, images, force):
        return paths
    (data_dir / "footage").mkdir(parents=True, exist_ok=True)
    # Tests, `make up` and the fleet may all prepare at once: one works, the others wait.
    with open(data_dir / "footage" / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        todo = [n for n in _missing(paths, images, force) if n in CLIPS]
        root = _fetch_sources(data_dir)
        _copy_images(root, data_dir)
        for n, name in enumerate(todo, start=1):
            spec = CLIPS[name]
            print(f"== encoding {name} ({n}/{len(todo)})", flush=True)
            if spec.source in CLIPS:
                if not paths[spec.source].exists():
                    base = CLIPS[spec.source]
                    _encode(root / SOURCE_VIDEOS[base.source], paths[spec.source], base)
                _make_corrupt(paths[spec.source], paths[name])
            else:
                _encode(root / SOURCE_VIDEOS[spec.source], paths[name], spec)
    print(f"== footage ready in {data_dir / 'footage'}", flush=True)
    return paths
