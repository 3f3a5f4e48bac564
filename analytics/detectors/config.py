"""Detector configuration: one model per plug-in, chosen by `type` (a pydantic union)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.detectors.base import Detector, DetectorError
from analytics.detectors.runtime import Provider
from sharpeye.models.manifest import ModelError, resolve


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float = Field(default=0.3, ge=0.0, le=1.0, description="Drop boxes scoring below.")
    iou: float = Field(default=0.5, gt=0.0, le=1.0, description="NMS overlap threshold.")


class OnnxDetectorConfig(_Base):
    model: str = Field(description="Model name in the manifest (`sharpeye models list`).")
    provider: Provider = Field(default="cpu", description="ONNX Runtime execution provider.")
    threads: int = Field(default=0, ge=0, description="Intra-op threads; 0 = all cores.")


class NanodetOnnxConfig(OnnxDetectorConfig):
    type: Literal["nanodet-onnx"] = "nanodet-onnx"
    model: str = "nanodet-coco"
    letterbox: bool = Field(default=True, description="Keep aspect (pad) rather than squash.")


class YoloOnnxConfig(OnnxDetectorConfig):
    type: Literal["yolo-onnx"] = "yolo-onnx"


class UltralyticsConfig(_Base):
    type: Literal["ultralytics"] = "ultralytics"
    path: Path = Field(description="A .pt or TensorRT .engine file.")
    device: str = Field(default="cpu", description="'cpu', 'cuda:0', ...")


DetectorConfig = Annotated[
    NanodetOnnxConfig | YoloOnnxConfig | UltralyticsConfig, Field(discriminator="type")
]


def build_detector(config: DetectorConfig, data_dir: Path) -> Detector:
    """Instantiate the configured plug-in; DetectorError names what is missing."""
    if isinstance(config, UltralyticsConfig):
        from analytics.detectors.ultralytics_pt import UltralyticsDetector

        return UltralyticsDetector(config.path, device=config.device, score=config.score)
    try:
        entry, path = resolve(data_dir, config.model)
    except ModelError as e:
        raise DetectorError(str(e)) from e
    if entry.task != "detect":
        raise DetectorError(f"model {entry.name!r} is a {entry.task} model, not a detector")
    size = entry.input_size or (640, 640)
    if isinstance(config, NanodetOnnxConfig):
        if entry.layout != "nanodet":
            raise DetectorError(f"model {entry.name!r} has layout {entry.layout}, not nanodet")
        from analytics.detectors.nanodet_onnx import NanodetOnnx

        return NanodetOnnx(
            path,
            entry.classes,
            size,
            provider=config.provider,
            threads=config.threads,
            score=config.score,
            iou=config.iou,
            letterbox=config.letterbox,
        )
    if entry.layout != "yolo":
        raise DetectorError(f"model {entry.name!r} has layout {entry.layout}, not yolo")
    from analytics.detectors.yolo_onnx import YoloOnnx

    return YoloOnnx(
        path,
        entry.classes,
        size,
        provider=config.provider,
        threads=config.threads,
        score=config.score,
        iou=config.iou,
    )
