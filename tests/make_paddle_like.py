"""Small ONNX graphs shaped like PaddlePaddle exports (Paddle2ONNX), for `edge-ssl info`
(tests/cli_info.rs): the rapidocr models (ch_PP-OCRv4_rec_infer.onnx and friends) have the same
features, at a size a test can afford.

    python tests/make_paddle_like.py OUT_DIR          writes the models, prints a JSON report
    python tests/make_paddle_like.py --count MODEL    prints {"parameters": N} for any ONNX file

Features copied from Paddle2ONNX's output:
  - every weight is a `Constant` node (no initializers); shape targets are int64 `Constant`s;
  - free dimensions: symbolic names, `?`, and the old `-1` dim_value;
  - rec_like: a `Reshape` whose target was computed for a height of 48 (like PP-OCR's recognizer),
    so the graph runs at height 48 and any width, and cannot be analysed at 224x224;
  - cls_like: `-1` batch, free height and width, global pooling, so it runs at any size.

The report gives, per model, its file, the parameter count done here independently of edge-ssl
(numpy, over initializers and floating-point `Constant` values), and the multiply-adds ×2 at the
size it was built for (`flops_at`, the shape as N,C,H,W). Each model is checked with
onnx.checker, and run with ONNX Runtime at that size when onnxruntime is installed.
Exit status 3: onnx or numpy is missing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(3)

FLOAT_TYPES = {
    TensorProto.FLOAT,
    TensorProto.FLOAT16,
    TensorProto.DOUBLE,
    TensorProto.BFLOAT16,
}


def count_parameters(model: onnx.ModelProto) -> int:
    """Initializers, plus the floating-point values of Constant nodes (integer ones are shapes)."""
    n = sum(numpy_helper.to_array(t).size for t in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type != "Constant":
            continue
        for a in node.attribute:
            if a.name == "value" and a.t.data_type in FLOAT_TYPES:
                n += numpy_helper.to_array(a.t).size
            elif a.name == "value_floats":
                n += len(a.floats)
            elif a.name == "value_float":
                n += 1
    return int(n)


class Graph:
    def __init__(self, seed: int):
        self.nodes: list[onnx.NodeProto] = []
        self.rng = np.random.default_rng(seed)
        self.n = 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}_{self.n}.tmp_0"

    def constant(self, array: np.ndarray) -> str:
        out = self.name("constant")
        self.nodes.append(
            helper.make_node("Constant", [], [out], value=numpy_helper.from_array(array))
        )
        return out

    def weight(self, *shape: int) -> str:
        return self.constant((self.rng.standard_normal(shape) * 0.1).astype(np.float32))

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, stride: int) -> str:
        w, b = self.weight(cout, cin, 3, 3), self.weight(cout)
        y = self.op("Conv", [x, w, b], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
        return self.op("Relu", [y])

    def model(self, x: onnx.ValueInfoProto, out: str, out_shape: list) -> onnx.ModelProto:
        y = helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)
        graph = helper.make_graph(self.nodes, "paddle_like", [x], [y])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
        model.producer_name = "PaddlePaddle"
        model.ir_version = 7
        return model


def rec_like() -> tuple[onnx.ModelProto, list[int], int]:
    """Conv stride 2 (8 ch) → Conv (16 ch) → Reshape to [N, 16·24, W/2] (24 = 48/2: fixed for a
    height of 48) → Transpose → MatMul to 10 classes → Softmax: [N, W/2, 10]."""
    g = Graph(1)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["p2o.DynamicDimension.0", 3, "?", "p2o.DynamicDimension.1"])
    y = g.conv("x", 3, 8, 2)
    y = g.conv(y, 8, 16, 1)
    y = g.op("Reshape", [y, g.constant(np.array([0, 16 * 24, -1], dtype=np.int64))])
    y = g.op("Transpose", [y], perm=[0, 2, 1])
    y = g.op("MatMul", [y, g.weight(16 * 24, 10)])
    y = g.op("Add", [y, g.weight(10)])
    y = g.op("Softmax", [y], axis=2)
    shape = [1, 3, 48, 64]
    h, w = 24, 32
    fma = h * w * (8 * 3 * 9 + 16 * 8 * 9) + w * 16 * 24 * 10
    return g.model(x, y, ["p2o.DynamicDimension.2", "p2o.DynamicDimension.3", 10]), shape, 2 * fma


def cls_like() -> tuple[onnx.ModelProto, list[int], int]:
    """Conv stride 2 (8 ch) → GlobalAveragePool → Flatten → Gemm to 2 classes → Softmax, with a
    `-1` batch and a free height and width."""
    g = Graph(2)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1, 3, "?", "?"])
    y = g.conv("x", 3, 8, 2)
    y = g.op("GlobalAveragePool", [y])
    y = g.op("Flatten", [y], axis=1)
    y = g.op("Gemm", [y, g.weight(8, 2), g.weight(2)])
    y = g.op("Softmax", [y], axis=1)
    shape = [1, 3, 48, 192]
    fma = 24 * 96 * 8 * 3 * 9 + 8 * 2
    return g.model(x, y, [-1, 2]), shape, 2 * fma


def run_with_onnxruntime(path: Path, shape: list[int]) -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session.run(None, {"x": np.zeros(shape, dtype=np.float32)})
    return True


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--count":
        print(json.dumps({"parameters": count_parameters(onnx.load(sys.argv[2]))}))
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, make in [("rec_like", rec_like), ("cls_like", cls_like)]:
        model, shape, flops = make()
        onnx.checker.check_model(model)
        path = out_dir / f"{name}.onnx"
        onnx.save(model, path)
        report[name] = {
            "path": str(path),
            "parameters": count_parameters(model),
            "flops_at": shape,
            "flops": flops,
            "ran_with_onnxruntime": run_with_onnxruntime(path, shape),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
