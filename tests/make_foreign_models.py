"""Writes the models of the backend conformance suite (crates/runtime/tests/conformance.rs), each with
reference inputs and ONNX Runtime (Python) outputs, into a cache directory:

    python tests/make_foreign_models.py --out-dir target/tmp/conformance-models

Models, as users bring them:
  bundled                  models/fmnist-ssl/encoder.onnx, dynamic batch
  bundled_fixed1           the same with its batch dimension fixed to 1 (onnx API)
  bundled_fixed4           fixed to 4: batches that are not a multiple of 4 get padded by the runtime
  bundled_external         its weights saved as external data beside it (save_as_external_data=True)
  resnet18, mobilenet_v3_small, vit_small_patch16_224
                           `models/export.py NAME --random-init` (needs torch, torchvision, timm)
  resnet18_fixed1          resnet18 with its batch fixed to 1 (needs torch)
  resnet18_external        resnet18 with external data (needs torch)
  bundled_value_info       the bundled encoder with image height and width left free and every
                           intermediate tensor's shape recorded as symbolic expressions (`N`,
                           `floor(H/2 - 1/2) + 1`), as PaddlePaddle's exporter writes them (ONNX
                           Runtime's symbolic shape inference; needs sympy)
  mobilenet_v3_small_value_info  the same for mobilenet_v3_small (needs torch)
  bundled_reshape1         the bundled encoder with its Flatten replaced by a Reshape to [1, -1]: the
                           input's batch is free but the graph fixes it at 1 inside, as traced exports
                           often do (ONNX Runtime gives one row for a batch; the reference runs
                           one image a call)

Per model: NAME.onnx (+ NAME.onnx.data), NAME.toml (its card), NAME.input.npy (8 samples, each
flattened to one row) and NAME.output.npy (the embeddings ONNX Runtime's Python package gives for
them; a fixed-batch model is run in chunks of its batch). `manifest.txt` lists each model as `NAME ok`
or `NAME skipped: REASON`, and is written last. Models already written by this version of the script
are kept, so a second run costs nothing; models skipped for want of torch are retried.
Exit status 3: onnx, onnxruntime or numpy is missing (the reason is printed).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "models" / "fmnist-ssl" / "encoder.onnx"
SAMPLES = 8
TORCH_MODELS = ["resnet18", "mobilenet_v3_small", "vit_small_patch16_224"]

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # the suite skips, saying why
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(3)


def version() -> str:
    """Changes whenever this script or export.py does, so stale models are rebuilt."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update((REPO / "models" / "export.py").read_bytes())
    return h.hexdigest()[:16]


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def set_batch(model: onnx.ModelProto, batch: int) -> None:
    """Fixes the leading dimension of every graph input and output to `batch`."""
    for v in list(model.graph.input) + list(model.graph.output):
        d = v.type.tensor_type.shape.dim[0]
        d.Clear()
        d.dim_value = batch


def card_text(base_card: Path, onnx_name: str) -> str:
    """The base model's card for a derived ONNX: same input and output, no sha256 (the file differs)."""
    out = []
    for line in base_card.read_text().splitlines():
        if line.startswith("sha256"):
            continue
        out.append(f'onnx = "{onnx_name}"' if line.startswith("onnx =") else line)
    return "\n".join(out) + "\n"


def derive(out: Path, base: str, name: str, batch: int | None, external: bool) -> None:
    model = onnx.load(str(out / f"{base}.onnx"))
    if batch is not None:
        set_batch(model, batch)
    onnx.checker.check_model(model)
    path = out / f"{name}.onnx"
    for stale in (path, out / f"{name}.onnx.data"):
        stale.unlink(missing_ok=True)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{name}.onnx.data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    (out / f"{name}.toml").write_text(card_text(out / f"{base}.toml", path.name))


def symbolic_value_info(out: Path, base: str, name: str) -> None:
    """`base` with its input's height and width made symbolic (`H`, `W`) and every intermediate
    shape written into value_info as expressions of `N`, `H` and `W`."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    model = onnx.load(str(out / f"{base}.onnx"))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for axis, symbol in ((2, "H"), (3, "W")):
        dims[axis].Clear()
        dims[axis].dim_param = symbol
    model = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    params = [d.dim_param for v in model.graph.value_info for d in v.type.tensor_type.shape.dim]
    assert any(p.startswith("floor(") for p in params), "no symbolic expression was recorded"
    onnx.checker.check_model(model)
    onnx.save_model(model, str(out / f"{name}.onnx"))
    (out / f"{name}.toml").write_text(card_text(out / f"{base}.toml", f"{name}.onnx"))


def have_sympy() -> str | None:
    import importlib.util
    if importlib.util.find_spec("sympy") is None:
        return "Python package sympy is not installed (pip install -r models/requirements.txt)"
    return None


def reshape_to_one_row(out: Path, base: str, name: str) -> None:
    """`base` with its Flatten replaced by `Reshape(x, [1, -1])`."""
    from onnx import helper, numpy_helper
    model = onnx.load(str(out / f"{base}.onnx"))
    g = model.graph
    k = next(i for i, n in enumerate(g.node) if n.op_type == "Flatten")
    flatten = g.node[k]
    g.initializer.append(numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "one_row"))
    g.node.insert(k, helper.make_node("Reshape", [flatten.input[0], "one_row"], list(flatten.output)))
    g.node.remove(flatten)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(out / f"{name}.onnx"))
    (out / f"{name}.toml").write_text(card_text(out / f"{base}.toml", f"{name}.onnx"))


def reference(out: Path, name: str, seed: int, shape_of: str | None = None,
              chunk: int | None = None) -> None:
    """Seeded inputs and ONNX Runtime's outputs for them, chunked as the model's batch requires
    (or `chunk` images a call). `shape_of` names the model whose input shape to use when `name`
    leaves some of it free."""
    sess = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = inp.shape
    if shape_of is not None:
        shape = ort.InferenceSession(str(out / f"{shape_of}.onnx"),
                                     providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    sample = [int(d) for d in shape[1:]]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else (chunk or SAMPLES)
    x = np.random.default_rng(seed).standard_normal((SAMPLES, *sample), dtype=np.float32)
    outs = [sess.run(None, {inp.name: x[i:i + batch]})[0] for i in range(0, SAMPLES, batch)]
    y = np.concatenate(outs).reshape(SAMPLES, -1)
    atomic_save_npy(out / f"{name}.input.npy", x.reshape(SAMPLES, -1))
    atomic_save_npy(out / f"{name}.output.npy", y.astype(np.float32))


def have_torch() -> str | None:
    """Why export.py cannot run here, or None. Looked up, not imported: importing torch takes seconds."""
    import importlib.util
    for module in ("torch", "torchvision", "timm"):
        if importlib.util.find_spec(module) is None:
            return f"Python package {module} is not installed (pip install -r models/requirements.txt)"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / "version.txt"
    current = version()
    fresh = stamp.is_file() and stamp.read_text().strip() == current
    if not fresh:
        for f in out.glob("*.output.npy"):  # invalidates every model below
            f.unlink()
        stamp.write_text(current + "\n")
    status: dict[str, str] = {}

    def build(name: str, make, seed: int, shape_of: str | None = None,
              chunk: int | None = None) -> None:
        if (out / f"{name}.output.npy").is_file():
            status[name] = "ok"
            return
        make()
        reference(out, name, seed, shape_of, chunk)
        status[name] = "ok"
        print(f"made {name}", file=sys.stderr, flush=True)

    def copy_bundled() -> None:
        (out / "bundled.onnx").write_bytes(BUNDLED.read_bytes())
        (out / "bundled.toml").write_text(card_text(BUNDLED.with_suffix(".toml"), "bundled.onnx"))

    build("bundled", copy_bundled, 1)
    build("bundled_fixed1", lambda: derive(out, "bundled", "bundled_fixed1", 1, False), 2)
    build("bundled_fixed4", lambda: derive(out, "bundled", "bundled_fixed4", 4, False), 3)
    build("bundled_external", lambda: derive(out, "bundled", "bundled_external", None, True), 4)
    build("bundled_reshape1", lambda: reshape_to_one_row(out, "bundled", "bundled_reshape1"), 6,
          chunk=1)
    if (no_sympy := have_sympy()):
        status["bundled_value_info"] = f"skipped: {no_sympy}"
    else:
        build("bundled_value_info", lambda: symbolic_value_info(out, "bundled", "bundled_value_info"), 5,
              "bundled")

    missing = have_torch()
    for i, arch in enumerate(TORCH_MODELS):
        if missing:
            status[arch] = f"skipped: {missing}"
            continue

        def export(arch=arch) -> None:
            subprocess.run([sys.executable, str(REPO / "models" / "export.py"), arch, "--random-init",
                            "--out-dir", str(out), "--threads", "2"], check=True, stdout=sys.stderr)

        build(arch, export, 10 + i)
    for name, (batch, external) in {"resnet18_fixed1": (1, False), "resnet18_external": (None, True)}.items():
        if missing:
            status[name] = f"skipped: {missing}"
            continue
        build(name, lambda name=name, b=batch, e=external: derive(out, "resnet18", name, b, e), 20)
    name = "mobilenet_v3_small_value_info"
    if missing or have_sympy():
        status[name] = f"skipped: {missing or have_sympy()}"
    else:
        build(name, lambda: symbolic_value_info(out, "mobilenet_v3_small", name), 21, "mobilenet_v3_small")

    manifest = out / "manifest.txt"
    tmp = out / "manifest.txt.tmp"
    tmp.write_text("".join(f"{k} {v}\n" for k, v in status.items()))
    os.replace(tmp, manifest)


if __name__ == "__main__":
    main()
