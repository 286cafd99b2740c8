"""Checks a BN-patched encoder written by `edge-ssl adapt` with ONNX's own checker and ONNX
Runtime: the graph is valid, its BatchNorm running statistics differ from the source model's
(and nothing else does), and ORT's output on the given images equals `edge-ssl embed`'s.

usage: verify_bn_onnx.py SOURCE.onnx MODEL_DIR PIXELS.bin N EMBED.npy
"""
import sys
import tomllib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

source, model_dir, pixels, n, embedded = sys.argv[1:6]
n = int(n)
patched_path = f"{model_dir}/encoder.onnx"
onnx.checker.check_model(onnx.load(patched_path), full_check=True)

src = {i.name: numpy_helper.to_array(i) for i in onnx.load(source).graph.initializer}
new_model = onnx.load(patched_path)
new = {i.name: numpy_helper.to_array(i) for i in new_model.graph.initializer}
assert src.keys() == new.keys(), "initializer names changed"
stats = set()
for node in new_model.graph.node:
    if node.op_type == "BatchNormalization":
        stats.update(node.input[3:5])
changed = {k for k in src if not np.array_equal(src[k], new[k])}
assert changed, "no initializer changed: BN statistics were not re-estimated"
assert changed <= stats, f"non-BN-statistics initializers changed: {sorted(changed - stats)}"

with open(f"{model_dir}/edge-ssl.toml", "rb") as f:
    card = tomllib.load(f)
inp = card["input"]
x = np.fromfile(pixels, dtype=np.uint8).astype(np.float32).reshape(n, 1, inp["height"], inp["width"]) / 255.0
x = (x - np.float32(inp["mean"][0])) / np.float32(inp["std"][0])
sess = ort.InferenceSession(patched_path, providers=["CPUExecutionProvider"])
(out,) = sess.run(None, {inp["name"]: x.astype(np.float32)})
ours = np.load(embedded)
diff = float(np.abs(out.reshape(n, -1) - ours).max())
assert diff < 1e-3, f"ORT and edge-ssl embed differ by {diff}"
before = ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, {inp["name"]: x})[0]
assert np.abs(before.reshape(n, -1) - ours).max() > 1e-3, "patched model gives the source model's output"
print(f"ok: {len(changed)} BN tensors re-estimated; max |ORT - edge-ssl| = {diff:.2e}")
