"""`sharpeye models import`: a user's YOLO model (ultralytics export layout) into the manifest.

Accepted: an ONNX file with one image input `[N, 3, H, W]` and one output `[N, 4 + C, A]`
(cx, cy, w, h then C class scores for A anchors: what `yolo export format=onnx` writes for
YOLOv8/11 detection), or a `.pt` that ultralytics (optional extra) exports to that ONNX.
Class names come from the `names` metadata ultralytics writes, else COCO's when C is 80.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import onnx

from sharpeye.models.coco import COCO_CLASSES
from sharpeye.models.manifest import (
    ModelEntry,
    ModelError,
    load_manifest,
    models_dir,
    save_manifest,
    sha256_file,
)


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in value.type.tensor_type.shape.dim
    ]


def inspect_yolo_onnx(path: Path) -> tuple[tuple[int, int], list[str]]:
    """(input width, height) and class names of a YOLO ONNX; ModelError says what is wrong."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ModelError(f"{path}: not a readable ONNX model ({e})") from e
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ModelError(f"{path}: expected 1 input and 1 output (YOLO detect export)")
    ind, outd = _dims(inputs[0]), _dims(model.graph.output[0])
    if len(ind) != 4 or ind[1] != 3:
        raise ModelError(f"{path}: input {ind} is not [N, 3, H, W]")
    meta = {p.key: p.value for p in model.metadata_props}
    h, w = ind[2], ind[3]
    if not (isinstance(h, int) and isinstance(w, int)):
        imgsz = ast.literal_eval(meta["imgsz"]) if "imgsz" in meta else None
        if not imgsz:
            raise ModelError(f"{path}: input size {ind} is dynamic and no imgsz metadata")
        h, w = int(imgsz[0]), int(imgsz[1])
    if len(outd) != 3 or not isinstance(outd[1], int) or outd[1] < 5:
        raise ModelError(f"{path}: output {outd} is not [N, 4 + classes, anchors]")
    n_classes = outd[1] - 4
    if "names" in meta:
        names_map = ast.literal_eval(meta["names"])
        names = [str(names_map[k]) for k in sorted(names_map)]
    elif n_classes == len(COCO_CLASSES):
        names = list(COCO_CLASSES)
    else:
        names = [f"class_{i}" for i in range(n_classes)]
    if len(names) != n_classes:
        raise ModelError(f"{path}: {len(names)} names in metadata but {n_classes} class outputs")
    return (w, h), names


def _export_pt(path: Path, workdir: Path) -> Path:
    try:
        os.environ.setdefault("YOLO_OFFLINE", "1")  # else ultralytics looks things up online
        from ultralytics import YOLO  # type: ignore[import-not-found,unused-ignore]
    except ImportError as e:
        raise ModelError(
            f"{path}: importing a .pt needs the optional extra `ultralytics` "
            f"(pip install 'sharpeye[ultralytics]'), or export it to ONNX yourself: {e}"
        ) from e
    shutil.copy(path, workdir / path.name)
    out = YOLO(str(workdir / path.name)).export(format="onnx")
    return Path(str(out))


def import_model(data_dir: Path, path: Path, name: str | None = None) -> ModelEntry:
    """Check and copy a user's YOLO model into the models directory and the manifest."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    name = name or path.stem
    dest = models_dir(data_dir) / f"{name}.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt":
        path = _export_pt(path, dest.parent)
    elif path.suffix != ".onnx":
        raise ModelError(f"{path}: import takes a YOLO .onnx or .pt")
    size, names = inspect_yolo_onnx(path)
    tmp = dest.with_suffix(".tmp")
    shutil.copyfile(path, tmp)
    tmp.replace(dest)
    entry = ModelEntry(
        name=name,
        task="detect",
        layout="yolo",
        file=dest.name,
        input_size=size,
        classes=names,
        sha256=sha256_file(dest),
        source=f"import:{path.name}",
        licence="as supplied by the user",
    )
    manifest = load_manifest(data_dir)
    manifest.put(entry)
    save_manifest(data_dir, manifest)
    return entry
