"""A tiny ONNX model in the ultralytics YOLO export layout, built with onnx.helper.

Its output ignores the pixels: fixed predictions `[1, 4 + C, A]` in input coordinates, so
a test knows exactly which boxes the decoder must return.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_tiny_yolo(
    path: Path,
    predictions: np.ndarray,
    size: tuple[int, int] = (64, 64),
    names: dict[int, str] | None = None,
    input_dims: list[int | str] | None = None,
) -> Path:
    """predictions: `[4 + C, A]` (cx, cy, w, h, class scores) in input pixels."""
    w, h = size
    dims = input_dims or [1, 3, h, w]
    preds = numpy_helper.from_array(predictions[None].astype(np.float32), "preds")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    uaxes = numpy_helper.from_array(np.array([2], np.int64), "uaxes")
    nodes = [
        # output = preds + 0 * mean(x): depends on the input so runtimes keep the batch dim.
        helper.make_node("Flatten", ["images"], ["flat"]),
        helper.make_node("ReduceMean", ["flat", "axes"], ["mean"], keepdims=1),
        helper.make_node("Unsqueeze", ["mean", "uaxes"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["nothing"]),
        helper.make_node("Add", ["preds", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, *predictions.shape])],
        [preds, zero, axes, uaxes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    if names is not None:
        model.metadata_props.add(key="names", value=repr(names))
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
