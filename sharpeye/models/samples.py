"""Sample photos for tests and demos, from a pinned registry package (no torch needed).

The ultralytics wheel ships `assets/bus.jpg` (people and a bus) and `assets/zidane.jpg`
(two men, faces visible): the usual first images a detector is tried on. Only the wheel is
downloaded (`pip download --no-deps`), never installed.
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
SAMPLES = ("bus.jpg", "zidane.jpg")


def samples_dir(data_dir: Path) -> Path:
    return data_dir / "samples"


def pull_samples(data_dir: Path) -> dict[str, Path]:
    """The sample photos by name, extracted once from the cached wheel."""
    out = {name: samples_dir(data_dir) / name for name in SAMPLES}
    missing = {f"ultralytics/assets/{n}": p for n, p in out.items() if not p.is_file()}
    if missing:
        sources.extract(sources.fetch(ULTRALYTICS_WHEEL, data_dir), missing)
    return out
