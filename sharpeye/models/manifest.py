"""The model manifest: one JSON file listing every model file under `<data_dir>/models`.

Each entry says what the file is for (task, input size, classes, layout) and where it came
from (source, licence), with the sha256 of the file so a tampered or truncated model is
refused at load time rather than producing quiet garbage detections.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "manifest.json"

Task = Literal["detect", "face_detect", "face_embed", "face_landmarks", "ocr_rec", "ocr_det"]
Layout = Literal["nanodet", "yolo", "dlib", "builtin", "ppocr"]


class ModelError(RuntimeError):
    """A model is missing, unreadable or fails its checksum; the message says which and why."""


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Name used in configs (`nanodet-coco`).")
    task: Task = Field(description="What the model does.")
    layout: Layout = Field(description="How inputs/outputs are laid out (selects the decoder).")
    file: str = Field(description="File under the models directory; '' for built-in models.")
    input_size: tuple[int, int] | None = Field(default=None, description="(width, height).")
    classes: list[str] = Field(default_factory=list, description="Class names by index.")
    sha256: str = Field(default="", description="Checksum of the file ('' for built-ins).")
    source: str = Field(description="Registry package (and path inside it) or 'import:<path>'.")
    licence: str = Field(description="Licence of the weights.")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry] = Field(default_factory=list)

    def get(self, name: str) -> ModelEntry:
        for m in self.models:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.models) or "none"
        raise ModelError(
            f"model {name!r} is not provisioned (known: {known}); "
            "run `sharpeye models pull` or `sharpeye models import`"
        )

    def put(self, entry: ModelEntry) -> None:
        self.models = [m for m in self.models if m.name != entry.name] + [entry]


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(data_dir: Path) -> Manifest:
    path = models_dir(data_dir) / MANIFEST_NAME
    if not path.exists():
        return Manifest()
    return Manifest.model_validate_json(path.read_text())


def save_manifest(data_dir: Path, manifest: Manifest) -> None:
    path = models_dir(data_dir) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False))
    os.replace(tmp, path)  # readers never see half a manifest


def model_path(data_dir: Path, entry: ModelEntry, *, verify: bool = True) -> Path:
    """The entry's file, checked against its sha256 (ModelError if missing or altered)."""
    path = models_dir(data_dir) / entry.file
    if not path.is_file():
        raise ModelError(
            f"model {entry.name!r}: file {path} is missing; run `sharpeye models pull`"
        )
    if verify and entry.sha256 and sha256_file(path) != entry.sha256:
        raise ModelError(f"model {entry.name!r}: {path} does not match its sha256 (altered?)")
    return path


def resolve(data_dir: Path, name: str) -> tuple[ModelEntry, Path]:
    """Look a model up by name and return its entry and verified file."""
    entry = load_manifest(data_dir).get(name)
    return entry, model_path(data_dir, entry)
