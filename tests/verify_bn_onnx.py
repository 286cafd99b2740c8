"""Checks a BN-patched encoder written by `edge-ssl adapt` with ONNX's own checker and ONNX
Runtime: the graph is valid, its BatchNorm running statistics differ from the source model's
(and nothing else does), they equal the AdaBN statistics computed here independently, and ORT's
output on the given images equals `edge-ssl embed`'s.

The statistics are PyTorch's train mode with momentum=None over the frames in batches of BATCH
(default 64, `adapt`'s default inference batch): per batch, every BN layer normalized with that
batch's own mean and population variance; stored, the frame-weighted average of the batch means
and of the unbiased batch variances. The reference gets there without the runtime's probe graph:
per batch, numpy on ONNX Runtime's BN inputs with the BN nodes in eval mode, each layer's
statistics set to what its input measures, layer by layer until self-consistent (a fixed point
normalizes every layer with its batch statistics, i.e. is train mode).

usage: verify_bn_onnx.py SOURCE.onnx MODEL_DIR PIXELS.bin N EMBED.npy [BATCH]
"""
import sys
import tomllib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

source, model_dir, pixels, n, embedded = sys.argv[1:6]
n = int(n)
batch = int(sys.argv[6]) if len(sys.argv) > 6 else 64
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


def train_mode_batch(source_model, x):
    """Per BN mean-initializer name: (mean, population var, values per channel) of its input over
    the batch `x` with every BN layer in train mode, reached as a fixed point (one more layer
    settles per pass; as many passes as BN layers)."""
    cur = onnx.ModelProto()
    cur.CopyFrom(source_model)
    bns = [nd for nd in cur.graph.node if nd.op_type == "BatchNormalization"]
    for nd in bns:
        cur.graph.output.append(helper.make_tensor_value_info(nd.input[0], onnx.TensorProto.FLOAT, None))
    inits = {i.name: i for i in cur.graph.initializer}
    n_out = len(source_model.graph.output)
    stats = {}
    for _ in bns:
        outs = ort.InferenceSession(cur.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {inp["name"]: x})
        for k, nd in enumerate(bns):
            a = outs[n_out + k].astype(np.float64)
            axes = (0,) + tuple(range(2, a.ndim))
            mean, var = a.mean(axis=axes), a.var(axis=axes)
            stats[nd.input[3]] = (mean, var, a.size // a.shape[1])
            inits[nd.input[3]].CopyFrom(numpy_helper.from_array(mean.astype(np.float32), nd.input[3]))
            inits[nd.input[4]].CopyFrom(numpy_helper.from_array(var.astype(np.float32), nd.input[4]))
    return stats


def adabn_reference(source_model, x):
    """Frame-weighted average over batches of the train-mode batch means and unbiased variances."""
    sums, total = {}, 0
    for start in range(0, len(x), batch):
        part = x[start:start + batch]
        for name, (mean, var, m) in train_mode_batch(source_model, part).items():
            s = sums.setdefault(name, [0.0, 0.0])
            s[0] = s[0] + len(part) * mean
            s[1] = s[1] + len(part) * var * m / (m - 1)
        total += len(part)
    return {name: (s[0] / total, s[1] / total) for name, s in sums.items()}


worst = 0.0
reference = adabn_reference(onnx.load(source), x.astype(np.float32))
for node in new_model.graph.node:
    if node.op_type != "BatchNormalization":
        continue
    ref_mean, ref_var = reference[node.input[3]]
    got_mean, got_var = new[node.input[3]], new[node.input[4]]
    sd = np.sqrt(np.maximum(ref_var, 1e-12))
    worst = max(worst, float((np.abs(got_mean - ref_mean) / sd).max()),
                float((np.abs(got_var - ref_var) / np.maximum(ref_var, 1e-6)).max()))
assert worst < 1e-3, f"BN statistics differ from the AdaBN reference by {worst:.2e} (sd or relative)"

before = ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, {inp["name"]: x})[0]
assert np.abs(before.reshape(n, -1) - ours).max() > 1e-3, "patched model gives the source model's output"
print(f"ok: {len(changed)} BN tensors re-estimated, within {worst:.1e} of the AdaBN reference; "
      f"max |ORT - edge-ssl| = {diff:.2e}")
