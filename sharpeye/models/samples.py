"""Sample photos for tests and demos, from pinned registry packages (never installed).

The ultralytics wheel ships `assets/bus.jpg` (people and a bus) and `assets/zidane.jpg`
(two men, faces visible): the usual first images a detector is tried on. The
face_recognition sdist (MIT) ships its test photos: three different real photos
of Barack Obama (`obama.jpg` portrait, `obama2.jpg` at a lectern, `obama3.jpg` full
length) and one of Joe Biden: real "same person / different person" pairs for face
matching. Only the archives are downloaded (`pip download --no-deps`).
"""

from __future__ import annotations

from pathlib import Path

from sharpeye.models import sources

ULTRALYTICS_WHEEL = sources.Package(
    "pypi",
    "ultralytics",
    "8.4.190",
    "ultralytics-8.4.190-py3-none-any.whl",
    "bd309728efa168af64d39040136828edd2dbcb4aeceb4510bdff4f3ca0ea01b8",
    "AGPL-3.0",
)
FACE_RECOGNITION_SDIST = sources.Package(
    "pypi",
    "face-recognition",
    "1.3.0",
    "face_recognition-1.3.0.tar.gz",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
    "MIT",
    sdist=True,  # the wheel leaves tests/ out
)
# Sample name → (package, member path inside its archive).
SAMPLES: dict[str, tuple[sources.Package, str]] = {
    "bus.jpg": (ULTRALYTICS_WHEEL, "ultralytics/assets/bus.jpg"),
    "zidane.jpg": (ULTRALYTICS_WHEEL, "ultralytics/assets/zidane.jpg"),
    "obama.jpg": (FACE_RECOGNITION_SDIST, "tests/test_images/obama.jpg"),
    "obama2.jpg": (FACE_RECOGNITION_SDIST, "tests/test_images/obama2.jpg"),
    "obama3.jpg": (FACE_RECOGNITION_SDIST, "tests/test_images/obama3.jpg"),
    "biden.jpg": (FACE_RECOGNITION_SDIST, "tests/test_images/biden.jpg"),
}


def samples_dir(data_dir: Path) -> Path:
    return data_dir / "samples"


def pull_samples(data_dir: Path) -> dict[str, Path]:
    """The sample photos by name, extracted once from the cached archives."""
    out = {name: samples_dir(data_dir) / name for name in SAMPLES}
    missing: dict[sources.Package, dict[str, Path]] = {}
    for name, path in out.items():
        if not path.is_file():
            pkg, member = SAMPLES[name]
            missing.setdefault(pkg, {})[member] = path
    for pkg, members in missing.items():
        sources.extract(sources.fetch(pkg, data_dir), members)
    return out
