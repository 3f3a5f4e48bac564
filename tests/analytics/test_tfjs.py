"""The TFJS graph → ONNX converter on a small graph built here, checked against numpy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from sharpeye.models.tfjs import TfjsConversionError, convert


def _const(
    name: str, arr: np.ndarray, weights: list[tuple[dict[str, Any], bytes]], fp16: bool = False
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "shape": list(arr.shape), "dtype": str(arr.dtype)}
    if fp16:
        spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        data = arr.astype(np.float16).tobytes()
    else:
        data = arr.tobytes()
    weights.append((spec, data))
    return {"name": name, "op": "Const", "attr": {}}


def _write(
    tmp: Path,
    nodes: list[dict[str, Any]],
    weights: list[tuple[dict[str, Any], bytes]],
    outputs: list[str],
) -> Path:
    (tmp / "m.bin").write_bytes(b"".join(d for _, d in weights))
    model = {
        "format": "graph-model",
        "modelTopology": {"node": nodes},
        "signature": {
            "outputs": {
                o: {"name": o, "tensorShape": {"dim": [{"size": "1"}, {"size": "-1"}]}}
                for o in outputs
            }
        },
        "weightsManifest": [{"paths": ["m.bin"], "weights": [s for s, _ in weights]}],
    }
    path = tmp / "m.json"
    path.write_text(json.dumps(model))
    return path


def _attr_list(*v: int) -> dict[str, Any]:
    return {"list": {"i": [str(i) for i in v]}}


NHWC = {"s": "TkhXQw=="}  # base64 "NHWC", as TFJS stores strings
VALID = {"s": "VkFMSUQ="}


def test_conv_pad_leaky_split_sigmoid_reshape_match_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w: list[tuple[dict[str, Any], bytes]] = []
    kernel = rng.normal(size=(1, 1, 3, 4)).astype(np.float32)  # 1×1 conv: a matrix product
    bias = rng.normal(size=(4,)).astype(np.float32)
    nodes = [
        {
            "name": "x",
            "op": "Placeholder",
            "attr": {
                "shape": {
                    "shape": {"dim": [{"size": "1"}, {"size": "3"}, {"size": "4"}, {"size": "4"}]}
                }
            },
        },
        _const("perm", np.array([0, 2, 3, 1], np.int32), w),
        _const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32), w),
        _const("k", kernel, w, fp16=True),
        _const("b", bias, w),
        # The exporter's constant-only leftovers: SparseToDense over empty indices, then Add.
        _const("idx", np.zeros((0, 1), np.int32), w),
        _const("dshape", np.array([3], np.int32), w),
        _const("vals", np.zeros((0,), np.int32), w),
        _const("zero", np.array(0, np.int32), w),
        _const("shape0", np.array([1, 36, -1], np.int32), w),
        _const("sizes", np.array([2, 2], np.int32), w),
        _const("axis", np.array(3, np.int32), w),
        {"name": "dense", "op": "SparseToDense", "input": ["idx", "dshape", "vals", "zero"]},
        {"name": "shape", "op": "AddV2", "input": ["shape0", "dense"]},
        {"name": "t", "op": "Transpose", "input": ["x", "perm"]},
        {"name": "p", "op": "Pad", "input": ["t", "pads"]},
        {
            "name": "c",
            "op": "Conv2D",
            "input": ["p", "k"],
            "attr": {
                "data_format": NHWC,
                "padding": VALID,
                "strides": _attr_list(1, 1, 1, 1),
                "dilations": _attr_list(1, 1, 1, 1),
            },
        },
        {"name": "a", "op": "Add", "input": ["c", "b"]},
        {"name": "l", "op": "LeakyRelu", "input": ["a"], "attr": {"alpha": {"f": 0.1}}},
        {
            "name": "s",
            "op": "SplitV",
            "input": ["l", "two", "axis"],
            "attr": {"num_split": {"i": "2"}},
        },
        {"name": "sig", "op": "Sigmoid", "input": ["s"]},
        {"name": "r", "op": "Reshape", "input": ["s:1", "shape"]},
        {"name": "out_sig", "op": "Identity", "input": ["sig"]},
        {"name": "out_r", "op": "Identity", "input": ["r"]},
    ]
    nodes.insert(12, _const("two", np.array([2, 2], np.int32), w))
    model = convert(_write(tmp_path, nodes, w, ["out_sig", "out_r"]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)  # batch 2 although 1 was declared
    sig, r = session.run(["out_sig", "out_r"], {"x": x})

    padded = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    k16 = kernel.astype(np.float16).astype(np.float32)[0, 0]
    y = padded @ k16 + bias
    y = np.where(y > 0, y, 0.1 * y)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-y[..., :2])), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r, y[..., 2:].reshape(2, 36, -1), rtol=1e-4, atol=1e-5)


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    nodes = [
        {
            "name": "x",
            "op": "Placeholder",
            "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "3"}]}}},
        },
        {"name": "e", "op": "Erf", "input": ["x"]},
    ]
    with pytest.raises(TfjsConversionError, match="Erf"):
        convert(_write(tmp_path, nodes, [], ["e"]))
