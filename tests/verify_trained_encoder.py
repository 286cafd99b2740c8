"""Checks an encoder that `edge-ssl adapt --train` wrote, from outside Rust: ONNX's checker
accepts it, and ONNX Runtime runs it.

usage: verify_trained_encoder.py SOURCE.onnx TRAINED.onnx INPUT.npy OUT.npy

INPUT.npy holds preprocessed images (one flattened image per row). Writes ONNX Runtime's
embeddings of TRAINED on them to OUT.npy and prints one JSON line: the float initializers
whose values changed from SOURCE (`changed`), those that did not (`unchanged`), and whether
the two graphs have the same nodes (`same_nodes`).
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

source_path, trained_path, inputs, out = sys.argv[1:5]
source, trained = onnx.load(source_path), onnx.load(trained_path)
onnx.checker.check_model(trained, full_check=True)

def floats(model):
    return {
        i.name: numpy_helper.to_array(i)
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT
    }

before, after = floats(source), floats(trained)
changed = sorted(n for n in after if n in before and not np.array_equal(before[n], after[n]))
unchanged = sorted(n for n in after if n in before and np.array_equal(before[n], after[n]))

def nodes(model):
    return [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node]

session = ort.InferenceSession(trained_path, providers=["CPUExecutionProvider"])
feed = session.get_inputs()[0]
shape = [d if isinstance(d, int) else -1 for d in feed.shape]
x = np.load(inputs).astype(np.float32).reshape([-1] + shape[1:])
y = session.run(None, {feed.name: x})[0]
np.save(out, y.reshape(len(x), -1).astype(np.float32))
print(json.dumps({
    "changed": changed,
    "unchanged": unchanged,
    "same_nodes": nodes(source) == nodes(trained),
    "new_initializers": sorted(set(after) - set(before)),
}))
