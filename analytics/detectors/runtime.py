"""ONNX Runtime sessions with the execution provider the config names.

A configured GPU provider that this ONNX Runtime build or machine lacks is an error at
startup (never a silent fall-back to CPU that would quietly cut capacity by 50×).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import onnxruntime as ort

from analytics.detectors.base import DetectorError

Provider = Literal["cpu", "cuda", "tensorrt"]
_ORT_NAMES: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def available_providers() -> list[str]:
    return [k for k, v in _ORT_NAMES.items() if v in ort.get_available_providers()]


def make_session(path: Path, provider: Provider = "cpu", threads: int = 0) -> ort.InferenceSession:
    """A session on `provider` (TensorRT falls back to CUDA per node, as ORT does for ops it
    cannot build engines for, and CUDA to CPU the same way)."""
    name = _ORT_NAMES[provider]
    if name not in ort.get_available_providers():
        raise DetectorError(
            f"execution provider {provider!r} is not available in this onnxruntime "
            f"(available: {available_providers()}); install onnxruntime-gpu on a GPU node "
            "or set provider: cpu"
        )
    chain = [name]
    if provider == "tensorrt":
        chain.append(_ORT_NAMES["cuda"])
    if provider != "cpu":
        chain.append(_ORT_NAMES["cpu"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3  # shape-merge warnings on converted graphs are noise
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=chain)
    except Exception as e:  # ORT raises its own Fail/InvalidGraph types
        raise DetectorError(f"{path}: ONNX Runtime cannot load it on {provider}: {e}") from e
