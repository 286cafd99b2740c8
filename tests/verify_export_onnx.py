"""Checks a one-file export written by `edge-ssl export` from outside Rust: ONNX's own checker
(full_check, so shape inference runs over the appended math), a dynamic batch axis on the input
and both outputs, and ONNX Runtime's outputs against edge-ssl's own path on the model directory.

usage: verify_export_onnx.py EXPORT.onnx SCORES INPUT.npy EMBED.npy PROBS.npy CLASSES.json [NOVELTY.npy]

SCORES is `logits` (softmax(scores) must give the head's probabilities) or `probabilities`.
INPUT.npy holds the preprocessed images, one flattened image per row; EMBED.npy the adapted
embeddings `edge-ssl embed --model DIR` wrote; PROBS.npy the head's probabilities on them;
CLASSES.json the class index `edge-ssl run --json` reported per image; NOVELTY.npy, when the
directory has a novelty model, its scores (N×1) computed by edge-ssl, which the export's third
output `novelty` must match. Prints one JSON line with the largest differences found.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

path, kind, inputs, embedded, probs, classes = sys.argv[1:7]
novelty_ref = np.load(sys.argv[7]) if len(sys.argv) > 7 else None
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)

def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

graph_in = model.graph.input[0]
batch = dims(graph_in)[0]
assert isinstance(batch, str) and batch, f"input batch axis is fixed: {dims(graph_in)}"
outs = [o.name for o in model.graph.output]
want = 2 if novelty_ref is None else 3
assert len(outs) == want and outs[1] == "scores", f"outputs: {outs}"
assert want == 2 or outs[2] == "novelty", f"outputs: {outs}"
for o in model.graph.output:
    assert dims(o)[0] == batch, f"output {o.name} lost the dynamic batch: {dims(o)}"
meta = {p.key: p.value for p in model.metadata_props}
assert {"edge-ssl.classes", "edge-ssl.head", "edge-ssl.card"} <= meta.keys(), f"metadata: {meta}"

in_shape = [d for d in dims(graph_in)[1:]]
x = np.load(inputs).astype(np.float32).reshape([-1] + in_shape)
ours_embedding = np.load(embedded)
ours_probs = np.load(probs)
ours_classes = np.array(json.load(open(classes)))
n = x.shape[0]
assert ours_probs.shape[0] == n and ours_classes.shape == (n,)
assert len(json.loads(meta["edge-ssl.classes"])) == ours_probs.shape[1]

sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
results = sess.run(None, {graph_in.name: x})
embedding, scores = results[0], results[1]
# The same rows one at a time: a dynamic batch that only works at one size is not dynamic.
single = np.concatenate([sess.run(None, {graph_in.name: x[i : i + 1]})[1] for i in range(n)])

if kind == "logits":
    z = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
elif kind == "probabilities":
    p = scores
    row_sums = np.abs(scores.sum(axis=1) - 1).max()
    assert row_sums < 1e-5, f"probability rows do not sum to 1 (off by {row_sums})"
else:
    raise SystemExit(f"unknown SCORES kind {kind}")

emb_diff = float(np.abs(embedding - ours_embedding).max())
score_diff = float(np.abs(p - ours_probs).max())
batch_diff = float(np.abs(single - scores).max())
agree = int((p.argmax(axis=1) == ours_classes).sum())
assert emb_diff < 1e-4, f"embeddings differ from edge-ssl embed by {emb_diff}"
assert score_diff < 1e-4, f"probabilities differ from the head's by {score_diff}"
# Relative: k-means logits are distances over a small temperature.
magnitude = max(1.0, float(np.abs(scores).max()))
assert batch_diff < 1e-4 * magnitude, f"batch 1 and batch {n} differ by {batch_diff} (scores up to {magnitude})"
assert agree == n, f"ORT agrees with edge-ssl run on {agree} of {n} images"
report = {"images": n, "classes_agree": agree, "max_abs_embedding": emb_diff,
          "max_abs_probability": score_diff, "max_abs_batch1_vs_batchN": batch_diff}
if novelty_ref is not None:
    novelty = results[2]
    assert novelty.shape == (n, 1), f"novelty output shape {novelty.shape}"
    assert "edge-ssl.novelty_threshold" in meta, f"metadata: {meta.keys()}"
    nov_diff = float(np.abs(novelty - novelty_ref.reshape(n, 1)).max())
    nov_scale = max(1.0, float(np.abs(novelty_ref).max()))
    assert nov_diff < 1e-4 * nov_scale, f"novelty differs from edge-ssl's by {nov_diff} (scores up to {nov_scale})"
    report["max_abs_novelty"] = nov_diff
print(json.dumps(report))
