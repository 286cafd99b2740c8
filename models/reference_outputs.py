"""Reference outputs of the bundled encoder for the runtime's correctness tests, made with ONNX Runtime.

    python models/reference_outputs.py [--model-dir DIR]   # rerun whenever encoder.onnx changes

Writes `DIR/reference/` (default `models/fmnist-ssl/reference/`):
- `images/NN-<label>.png`: the first 16 Fashion-MNIST test images, 28x28 8-bit grayscale (so no resize
  and no colour conversion is involved: the card's preprocessing reduces to (pixel/255 - mean)/std);
- `input.npy`: float32 [16, 784], those images preprocessed as the card says (row-major 1x28x28);
- `embedding.npy`: float32 [16, D] (D from the card), ONNX Runtime's `embedding` for `input` run as one batch;
- `reference.toml`: the sha256 of the ONNX these belong to, labels, and the tolerance to test with.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fmnist  # noqa: E402

BUNDLE = Path(__file__).resolve().parent / "fmnist-ssl"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
COUNT = 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=BUNDLE)
    bundle = ap.parse_args().model_dir
    card = tomllib.loads((bundle / "encoder.toml").read_text())
    onnx_path = bundle / card["onnx"]
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert sha == card["sha256"], "encoder.toml's sha256 does not match encoder.onnx; rerun bundle.py"
    images, labels = fmnist.load("t10k")
    images, labels = images[:COUNT], labels[:COUNT]

    out = bundle / "reference"
    (out / "images").mkdir(parents=True, exist_ok=True)
    for old in (out / "images").glob("*.png"):
        old.unlink()
    for i, (img, lab) in enumerate(zip(images, labels)):
        Image.fromarray(img, mode="L").save(out / "images" / f"{i:02d}-{CLASSES[lab]}.png")

    mean, std = card["input"]["mean"][0], card["input"]["std"][0]
    x = ((images.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)).astype(np.float32)
    x = x.reshape(COUNT, 1, 28, 28)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    emb = sess.run([card["output"]["name"]], {card["input"]["name"]: x})[0]
    # The batch dim is dynamic: one-at-a-time must agree with the batch.
    single = np.concatenate([sess.run(["embedding"], {"input": x[i:i + 1]})[0] for i in range(COUNT)])
    assert np.abs(single - emb).max() < 1e-5

    np.save(out / "input.npy", x.reshape(COUNT, -1))
    np.save(out / "embedding.npy", emb.astype(np.float32))
    (out / "reference.toml").write_text(
        "# Made by `python models/reference_outputs.py` with onnxruntime "
        f"{ort.__version__} (CPUExecutionProvider).\n"
        f'onnx_sha256 = "{sha}"\n'
        f"count = {COUNT}\n"
        f"labels = {[int(v) for v in labels]}\n"
        f'images = "images/NN-<class>.png, Fashion-MNIST test images 0..{COUNT - 1}, 28x28 gray"\n'
        'input = "input.npy: float32 [count, 784], (pixel/255 - mean)/std, rows are 1x28x28 NCHW"\n'
        f'embedding = "embedding.npy: float32 [count, {emb.shape[1]}]"\n'
        "# Max abs difference a correct backend should stay under (embeddings are O(1)).\n"
        "atol = 1e-4\n"
    )
    print(f"wrote {out}: {COUNT} images, input {x.shape}, embedding {emb.shape}, "
          f"|embedding| max {np.abs(emb).max():.3f}")


if __name__ == "__main__":
    main()
